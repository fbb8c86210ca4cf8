"""The retrier asks the lease before it says a database is down: an error met by a process whose
section was taken while it was frozen is LeaseLost, never an outage to wait out. Real SQLite files;
the takeover is written into the lease row by hand, as another copy's would be."""
from __future__ import annotations

import logging
import sqlite3
import threading

import pytest
import sqlalchemy as sa

from scraper.runtime.lease import TABLE, Lease, LeaseLost
from scraper.runtime.retry import Retrier
from scraper.targets.timeseries import TimeSeriesFile

ADTEMP = {"regime": "regimes.adtemp:AdTemp", "backoff_cap": "0.05s", "metrics": False}


def locked_once():
    """A database call that meets one SQLite 'database is locked' (an outage by itself), then works."""
    calls = []

    def call():
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return "done"
    return call


@pytest.fixture
def held(sqlite_dbs):
    """A lease held by this process, its commits fenced, and the retrier asking it (as runner.hold)."""
    cfg = sqlite_dbs.settings(**ADTEMP)
    stop = threading.Event()
    retrier = Retrier(cfg, stop)
    engine = sqlite_dbs.engine("target")
    lease = Lease(engine, cfg.section, 30.0, stop, retrier.call)
    lease.acquire("target")
    lease.fence(engine)
    retrier.confirm = lease.confirm
    yield retrier, lease, engine
    lease.close()


def take_over(engine: sa.Engine, section: str) -> None:
    with sqlite3.connect(engine.url.database) as raw:  # another copy's takeover, not through the fence
        raw.execute(f"UPDATE {TABLE} SET holder = 'elsewhere:1', epoch = epoch + 1 WHERE section = ?", (section,))


def test_an_error_after_the_section_was_taken_is_lease_lost_not_an_outage(held, caplog):
    retrier, lease, engine = held
    take_over(engine, lease.section)
    caplog.set_level(logging.WARNING)
    with pytest.raises(LeaseLost):
        retrier.call("target", locked_once())
    assert "DB down" not in caplog.text and "lost the section" in caplog.text


def test_an_error_after_the_loss_was_already_found_is_lease_lost_not_an_outage(held, caplog):
    """The race a resumed process runs: its renewal thread (or a fenced commit) finds the lease taken a
    moment before the main thread's next statement fails on the connection the server ended."""
    retrier, lease, engine = held
    take_over(engine, lease.section)
    with pytest.raises(LeaseLost):  # a commit's fence finds it first
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT 1"))
    assert lease.lost
    caplog.set_level(logging.WARNING)
    with pytest.raises(LeaseLost):
        retrier.call("target", locked_once())
    assert "DB down" not in caplog.text and retrier.errors == 0


def test_an_error_of_another_database_is_still_an_outage(held, caplog):
    """The lease lives in the target: a locked source is waited out and said, lease or not."""
    retrier, lease, engine = held
    caplog.set_level(logging.WARNING)
    assert retrier.call("source", locked_once()) == "done"
    assert "source DB down" in caplog.text and "source DB back up" in caplog.text
    assert not lease.lost


def test_a_commit_refused_on_the_bridges_file_names_the_new_holder_without_waiting_for_its_own_lock(tmp_path, caplog):
    """The bridge's live file begins every transaction IMMEDIATE (targets/timeseries.py). The fence
    that refuses a commit reads who holds the section now through the refused transaction itself: read
    through a second connection it waited out busy_timeout for the write lock its own transaction held
    (and every other copy waited with it), then said the loss without the new holder."""
    live = TimeSeriesFile(tmp_path / "live.db", busy_timeout=1.0)
    lease = Lease(live.engine, "copies", 30.0, threading.Event())
    lease.acquire("target")
    lease.fence(live.engine)
    try:
        take_over(live.engine, "copies")
        caplog.set_level(logging.WARNING)
        with pytest.raises(LeaseLost):
            with live.engine.begin() as conn:
                conn.execute(sa.text("SELECT 1"))
        assert "lost the section to elsewhere:1 (epoch 2)" in caplog.text
    finally:
        lease.close()
        live.engine.dispose()
