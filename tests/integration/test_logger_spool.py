"""The logger's spool with real scr.py processes polling an emulated MMR3 at 10 Hz: the target taken
down at random moments (a stopped MariaDB/PostgreSQL server, a SQLite file locked by another
writer), SIGKILL while polling and while draining, a torn spool, a full spool. Every comparison is
with what a never-down target holds: a row for each reading of every reply the device sent."""
from __future__ import annotations

import logging
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import _throwaway
from fakers.devices import Mmr3Device
from logger_support import expected_mmr3, mmr3_rows, mmr3_section, write_cfg
from processes import running, terminate, wait_for


def spawn(cfg: Path, section: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "scraper", "--cfg", str(cfg), "-s", section],
                            stdout=subprocess.PIPE, stderr=open(log, "ab"), text=True)


def spool_bytes(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


class SqliteOutage:
    """A SQLite target made unavailable: another writer holds its write lock (as a long backup or a
    stuck tool would) for longer than the logger's busy timeout."""

    def __init__(self, path: Path):
        self.path, self.conn = path, None

    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def down(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        self.conn.execute("BEGIN IMMEDIATE")

    def up(self) -> None:
        self.conn.rollback()
        self.conn.close()
        self.conn = None

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.url())


class ServerOutage:
    def __init__(self, server, name: str):
        self.server, self.name = server, name
        server.create_database(name)

    def url(self) -> str:
        return self.server.url(self.name)

    def down(self) -> None:
        self.server.stop()

    def up(self) -> None:
        self.server.start()

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.url())


@pytest.fixture(params=["sqlite", "mariadb", "postgresql"])
def outage(request, tmp_path):
    if request.param == "sqlite":
        yield SqliteOutage(tmp_path / "lab.db")
        return
    module, cls = {"mariadb": ("mariadb_server", "MariaDBServer"),
                   "postgresql": ("postgresql_server", "PostgreSQLServer")}[request.param]
    with _throwaway(request.param, module, cls) as server:
        yield ServerOutage(server, "lab")


def test_target_down_at_random_moments_loses_nothing_and_doubles_nothing(outage, tmp_path):
    rnd = random.Random()
    seed = rnd.randrange(10**6)
    rnd.seed(seed)
    spool = tmp_path / "lab.spool"
    log = tmp_path / "logger.log"
    with Mmr3Device() as dev:
        cfg = write_cfg(tmp_path / "l.cfg", {"m": mmr3_section(dev.url, outage.url(), spool=str(spool),
                                                               backoff_cap="0.5s", batch=50)})
        engine = outage.engine()
        proc = spawn(cfg, "m", log)
        with running(proc):
            wait_for(lambda: len(mmr3_rows(engine)) > 0, 60, "the first rows")
            for cycle in range(2):
                n = len(dev.replies) + rnd.randint(3, 30)
                wait_for(lambda: len(dev.replies) >= n, 60, "polls before the outage")
                outage.down()
                wait_for(lambda: spool_bytes(spool) > 0, 60, f"batches spooled (seed {seed})")
                n = len(dev.replies) + rnd.randint(3, 30)
                wait_for(lambda: len(dev.replies) >= n, 60, "polls during the outage")
                outage.up()
                wait_for(lambda: spool_bytes(spool) == 0, 60, f"the spool drained (seed {seed})")
            status, _took, out = terminate(proc)
            assert status == 0, log.read_text()
        engine.dispose()
        engine = outage.engine()
        assert mmr3_rows(engine) == expected_mmr3(dev.replies), f"seed {seed}"
        engine.dispose()
    text = log.read_text()
    assert text.count("target DB down") == 2 and text.count("target DB back up") == 2, text
    assert "spooled" in out and "dropped 0" in out


def test_sigkill_while_polling_and_while_draining_loses_at_most_the_reading_in_flight(tmp_path):
    """Kill -9 at random moments, with the target up and down; restart each time. Nothing is ever
    written twice; a reply is missing only when its poll was killed before the spool's fsync."""
    rnd = random.Random()
    seed = rnd.randrange(10**6)
    rnd.seed(seed)
    outage = SqliteOutage(tmp_path / "lab.db")
    spool = tmp_path / "lab.spool"
    log = tmp_path / "logger.log"
    kills, mid_drain = 0, False
    with Mmr3Device() as dev:
        cfg = write_cfg(tmp_path / "l.cfg", {"m": mmr3_section(dev.url, outage.url(), spool=str(spool),
                                                               backoff_cap="0.5s", batch=5)})
        engine = outage.engine()
        for cycle in range(3):
            proc = spawn(cfg, "m", log)
            with running(proc):
                n = len(dev.replies) + rnd.randint(5, 20)
                wait_for(lambda: len(dev.replies) >= n, 60, "polls")
                if cycle < 2:  # the first two: killed during an outage, after some spooling
                    outage.down()
                    wait_for(lambda: spool_bytes(spool) > 0, 60, f"spooling (seed {seed})")
                    # cycle 1 spools enough for a drain of several rounds (20 transactions of 5 rows each)
                    n = len(dev.replies) + (rnd.randint(5, 20) if cycle == 0 else rnd.randint(80, 120))
                    wait_for(lambda: len(dev.replies) >= n, 60, "polls while down")
                    outage.up()
                    if cycle == 1:  # killed while draining: some records committed, the head moved
                        wait_for(lambda: proc.poll() is not None or spool_bytes(spool) == 0 or
                                 (spool.parent / "lab.spool.head").exists(), 60, "the drain started")
                        mid_drain = spool_bytes(spool) > 0
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
                kills += 1
        proc = spawn(cfg, "m", log)
        with running(proc):
            wait_for(lambda: spool_bytes(spool) == 0, 60, f"the spool drained (seed {seed})")
            n = len(dev.replies) + 3
            wait_for(lambda: len(dev.replies) >= n, 60, "polls after the last restart")
            assert terminate(proc)[0] == 0
        rows = mmr3_rows(engine)
    expected = expected_mmr3(dev.replies)
    assert len(rows) == len(set(rows))
    assert set(rows) <= set(expected), f"seed {seed}"
    assert len(expected) - len(rows) <= 3 * kills, f"seed {seed}: {len(expected) - len(rows)} readings lost"
    assert mid_drain, "the second kill came after the drain had finished: the drain was not interrupted"


def test_a_torn_last_spool_record_is_dropped_with_one_log_line(tmp_path, caplog):
    """The process died in the middle of an append: the next start drops that record alone (one
    line), drains the others and appends after them."""
    from scraper import commands, modes

    spool = tmp_path / "lab.spool"
    with Mmr3Device() as dev:
        down = "postgresql+psycopg://nobody@127.0.0.1:1/lab"  # nothing listens: connection refused
        cfg = write_cfg(tmp_path / "l.cfg", {
            "down": mmr3_section(dev.url, down, spool=str(spool), maxiter=6, sleep="0.05s"),
            "up": mmr3_section(dev.url, f"sqlite:///{tmp_path / 'lab.db'}", spool=str(spool), maxiter=2,
                               sleep="0.05s")})
        summary = commands.run(modes.settings(str(cfg), "down"))
        assert summary.spooled == 18 and summary.spool_left == 18
        data = spool.read_bytes()
        last = data.rstrip(b"\n").rfind(b"\n") + 1
        spool.write_bytes(data[: last + (len(data) - last) // 2])  # the 6th record cut in half
        with caplog.at_level(logging.INFO, logger="scraper"):
            summary = commands.run(modes.settings(str(cfg), "up"))
    torn = [r for r in caplog.records if "is torn" in r.getMessage()]
    assert len(torn) == 1
    assert summary.drained == 15 and summary.readings + summary.drained == 21
    assert spool.read_bytes() == b""
    kept = dev.replies[:5] + dev.replies[6:]
    assert mmr3_rows(sa.create_engine(f"sqlite:///{tmp_path / 'lab.db'}")) == expected_mmr3(kept)


def test_a_full_spool_drops_new_readings_counts_them_and_status_says_error(tmp_path, caplog):
    from scraper import commands, modes

    spool = tmp_path / "lab.spool"
    with Mmr3Device() as dev:
        down = "postgresql+psycopg://nobody@127.0.0.1:1/lab"
        cfg = write_cfg(tmp_path / "l.cfg", {"m": mmr3_section(dev.url, down, spool=str(spool), maxiter=8,
                                                               sleep="0.05s", spool_max=12)})
        with caplog.at_level(logging.INFO, logger="scraper"):
            summary = commands.run(modes.settings(str(cfg), "m"))
    assert (summary.spooled, summary.dropped) == (12, 12)
    full = [r for r in caplog.records if "is full" in r.getMessage()]
    assert len(full) == 1 and full[0].levelname == "ERROR"
    proc = subprocess.run([sys.executable, "-m", "scraper", "--cfg", str(cfg), "status"], capture_output=True,
                          text=True, timeout=60)
    row = [line for line in proc.stdout.splitlines() if line.startswith("m ")]
    assert row and "ERROR" in row[0] and "spool full" in row[0], proc.stdout + proc.stderr
