"""Averager: bins an older version closed before they were over are averaged again, the early records
superseded, nothing deleted (docs/operations.md, data that cannot be trusted). Real databases, times
near the real clock.

What an older version wrote is made by the averager itself with its clock moved past 2099: a version
without the wall-clock bound read the 2099 row as data, so every real bin was closed to it. That run's
INSERTDATE is then set by hand (raw SQL) to the moment the older version ran, as it would have written
it; the source holds, at each such moment, only the entries a DCS had written by then.
"""
from __future__ import annotations

import logging
import random
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

import factories
from factories import create_lid, insert
from regimes.adlid import AdLid
from scraper import commands
from scraper.core import wallclock
from scraper.look import records as look
from scraper.look.plot import live as plotted
from processes import running, spawn, wait_for
from support import target_rows
from test_averager import AVG, KLS, StopAfter, average
from test_untrusted_averager import payload_columns, rounded
from untrusted import utc_now

BIN = timedelta(minutes=10)
KEYS = {**AVG, "bin": "10m", "territory": "1h"}
PAST = datetime(2100, 1, 1)  # the older version's "clock": no bound at all, the 2099 row is data


def quoter(engine: sa.Engine):
    name = engine.dialect.name
    return (lambda n: f'"{n}"') if name == "postgresql" else (lambda n: f"`{n}`") if name in ("mysql", "mariadb") \
        else (lambda n: n)


def older_versions(cfg, tgt: sa.Engine, monkeypatch, live: "Live", moments: list[datetime]) -> None:
    """The runs of a version without the wall-clock bound at `moments` (UTC, whole seconds), each
    over the entries a DCS had written by then. Run k's clock is 2100 + k days (no bound at all: the
    2099 row is data; and a clock that far on takes no record for early); once all have run, each
    INSERTDATE is set to its run's moment."""
    for k, at in enumerate(moments):
        live.up_to(at)
        with monkeypatch.context() as m:
            m.setattr(wallclock, "now_utc", lambda k=k: PAST + timedelta(days=k))
            average(cfg)
    q = quoter(tgt)
    with tgt.begin() as conn:
        for k, at in enumerate(moments):
            conn.exec_driver_sql(f"UPDATE {q(KLS + 'Vld')} SET {q('INSERTDATE')} = '{at:%Y-%m-%d %H:%M:%S}' "
                                 f"WHERE {q('INSERTDATE')} >= '{PAST + timedelta(days=k):%Y-%m-%d}' "
                                 f"AND {q('INSERTDATE')} < '{PAST + timedelta(days=k + 1):%Y-%m-%d}'")


def bin_start(t: datetime) -> datetime:
    return datetime(1970, 1, 1) + (t - datetime(1970, 1, 1)) // BIN * BIN


class Live:
    """A DCS writing an entry every 5 s from `base` up to 10 s ago, and a row dated 2099 among them."""

    def __init__(self, dbs, seed: int = 3):
        self.src, self.tgt = dbs.engine("source"), dbs.engine("target")
        self.now = utc_now()
        self.base = bin_start(self.now) - timedelta(hours=2)
        n = int((self.now - timedelta(seconds=10) - self.base).total_seconds()) // 5
        self.rows = factories.lid_rows(n, self.base, timedelta(seconds=5), seed=seed)
        self.table = create_lid(self.src, [])
        insert(self.src, self.table, factories.lid_rows(1, datetime(2099, 1, 1), first_id=100_000))
        self.written = 0

    def up_to(self, t: datetime) -> None:
        """The entries dated up to `t` that the DCS has not written yet."""
        upto = sum(1 for r in self.rows if r["date_time"] <= t)
        insert(self.src, self.table, self.rows[self.written:upto])
        self.written = max(self.written, upto)

    def reference(self, dbs) -> list[tuple]:
        """A current averager's target over the whole source, in a table of its own."""
        average(dbs.settings(**KEYS, kls=KLS + "Ref"))
        return target_rows(self.tgt, KLS + "Ref")

    def single(self, index: int) -> datetime:
        """A moment just after the first entry of bin `index` (from `base`) that aggregate_filter keeps."""
        lo = self.base + index * BIN
        return next(r["date_time"] for r in self.rows if r["date_time"] >= lo and r["Quality"]) + timedelta(seconds=1)


def early_records(before: list[tuple], moments: list[datetime]) -> list[tuple]:
    """Of the older version's records, those written before their bin was over (each older run wrote
    the bin holding its moment last)."""
    return [r for r in before for at in moments if bin_start(r[0]) == bin_start(at)]


def superseded(records: list[tuple]) -> list[tuple]:
    """The early records as a current version leaves them: ending at their start, all else kept."""
    return [(r[0], r[0], *r[2:]) for r in records]


def same(a: list[tuple], b: list[tuple]) -> bool:
    return sorted(map(repr, rounded(a))) == sorted(map(repr, rounded(b)))


def test_bins_an_older_version_closed_early_are_averaged_again_nothing_deleted(dbs, monkeypatch, caplog):
    """An older version run now and then (bins 2 and 7 closed early, between complete ones) and then
    every few seconds (bin 8 with a single entry, bin 9): each early bin is averaged again from all its
    entries, its record superseded (closed at its start, payload kept) and said once; the rest is the
    target of a current averager over the same source."""
    live = Live(dbs)
    cfg = dbs.settings(**KEYS)
    moments = [live.base + 2 * BIN + timedelta(minutes=3), live.base + 7 * BIN + timedelta(minutes=2),
               live.single(8), live.base + 9 * BIN + timedelta(minutes=4)]
    older_versions(cfg, live.tgt, monkeypatch, live, moments)
    before = target_rows(live.tgt, KLS)
    early = early_records(before, moments)
    assert len(early) == 4 and early[2][0] == early[2][1]  # bin 8: a single entry
    live.up_to(live.now)
    expected = live.reference(dbs)
    with caplog.at_level(logging.WARNING, logger="scraper.averager"):
        summary = average(dbs.settings(**KEYS, time_view=True))
    said = [r.getMessage() for r in caplog.records if "before its bin" in r.getMessage()]
    assert len(said) == 4 and all("now ends at its start, its payload kept" in m for m in said), said
    got = target_rows(live.tgt, KLS)
    assert same(got, expected + superseded(early)) and len(got) == len(expected) + 4
    assert summary.propagations == len(expected) - (len(before) - 4)
    # superseded once: nothing more to say or write, the single-entry bin included
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="scraper.averager"):
        again = average(cfg)
    assert again.propagations == 0 and target_rows(live.tgt, KLS) == got
    assert not [r for r in caplog.records if "before its bin" in r.getMessage()]
    # what a consumer reads inside each repaired bin is the re-averaged record
    view = look.DbiView(dbs.settings(**KEYS), AdLid)
    try:
        for rec in early:
            if rec[0] == rec[1]:
                continue  # a single-entry record holds no time (TIMESTART <= t < TIMEEND)
            (shown,) = view.at(rec[0])
            assert (shown.timestart, shown.timeend) == next((r[0], r[1]) for r in expected if r[0] == rec[0])
            assert shown.timeend > rec[1]  # the whole bin, not the part the older version had
        # a plot draws the re-averaged records as steps, not the superseded ones beside them
        drawn = plotted(view.between(live.base, live.now))
        assert [(r.timestart, r.timeend) for r in drawn] == [(r[0], r[1]) for r in sorted(expected)]
    finally:
        view.close()
    # Grafana's view of the table (time_view): one point per record of the uninterrupted run, the
    # re-averaged values; the superseded records, holding no time, are not plotted beside them
    grafana = sa.table(f"{KLS}_time", sa.column("time"), sa.column("nsamples"))
    with live.tgt.connect() as conn:
        points = conn.execute(sa.select(grafana).order_by(grafana.c.time)).all()
    counts = [dict(zip(payload_columns(live.tgt), r[-1][0]))["nsamples"] for r in sorted(expected)]
    assert [(round(float(t)), n) for t, n in points] == [
        (round((r[0] - datetime(1970, 1, 1)).total_seconds()), c) for r, c in zip(sorted(expected), counts)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_early_closes_then_a_run_stopped_anywhere_and_restarted(dbs, monkeypatch, seed):
    """Property: an older version run at random moments (never within future_tolerance of a bin's end,
    where a current version may close a bin too), then a current one stopped after a random number of
    chunks and restarted: the target of one uninterrupted current run plus the early records, closed at
    their start."""
    rng = random.Random(seed)
    live = Live(dbs, seed=seed)
    cfg = dbs.settings(**KEYS)
    moments = []
    for index in sorted(rng.sample(range(11), rng.randint(1, 5))):
        at = live.base + index * BIN + timedelta(seconds=rng.randint(6, 299))
        moments.append(at.replace(microsecond=0))
    older_versions(cfg, live.tgt, monkeypatch, live, moments)
    early = early_records(target_rows(live.tgt, KLS), moments)
    live.up_to(live.now)
    expected = live.reference(dbs)
    average(cfg, stop=StopAfter(rng.randint(1, len(moments) + 1)))
    average(cfg)
    assert same(target_rows(live.tgt, KLS), expected + superseded(early))


def test_an_early_bin_still_open_waits_and_a_real_scr_py_supersedes_it_once(dbs, monkeypatch, caplog, tmp_path):
    """The older version wrote the bin holding "now": while that bin is open a current averager leaves
    the record as it is (still valid for what it holds); once it closes, a real `scr.py` averages the
    bin again, logs it once, and a second run has nothing to do."""
    live = Live(dbs)
    real = live.now
    cfg = dbs.settings(**KEYS)
    at = bin_start(real) - 2 * BIN + timedelta(minutes=3)  # the clock is moved back to this moment
    older_versions(cfg, live.tgt, monkeypatch, live, [at])
    before = target_rows(live.tgt, KLS)
    with monkeypatch.context() as m, caplog.at_level(logging.INFO, logger="scraper.averager"):
        m.setattr(wallclock, "now_utc", lambda: at + timedelta(minutes=1))
        summary = average(cfg)
    assert summary.propagations == 0 and target_rows(live.tgt, KLS) == before
    assert any("its bin is averaged again once it closes" in r.getMessage() for r in caplog.records)
    live.up_to(live.now)
    expected = live.reference(dbs)
    path = dbs.write_cfg({"avg": KEYS})
    cmd = [sys.executable, "-m", "scraper", "--cfg", str(path), "-s", "avg"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    warned = [ln for ln in done.stderr.splitlines() if " WARNING " in ln and "before its bin" in ln]
    assert len(warned) == 1 and f"[{bin_start(at)}, {bin_start(at) + BIN})" in warned[0], done.stderr
    assert same(target_rows(live.tgt, KLS), expected + superseded(early_records(before, [at])))
    # the second run in-process: what it says and writes is the point, not its process
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="scraper.averager"):
        again = average(commands.settings(str(path), "avg"), allow_create=False)
    assert again.propagations == 0 and same(target_rows(live.tgt, KLS), expected + superseded(early_records(before, [at])))
    assert not [r for r in caplog.records if "before its bin" in r.getMessage()]


def test_a_real_scr_py_killed_as_it_supersedes_then_rerun_gives_the_same_target(dbs, monkeypatch, caplog):
    """SIGKILL once the first early bin is said (its supersede committed), wherever the process then
    is among the other seven (on MariaDB and PostgreSQL a few are done by then; SQLite may have done all
    of them): a rerun ends with the uninterrupted target, and no record is said twice."""
    live = Live(dbs, seed=5)
    cfg = dbs.settings(**KEYS)
    moments = [live.base + k * BIN + timedelta(minutes=1, seconds=7 * k) for k in (1, 3, 4, 5, 6, 7, 9, 10)]
    older_versions(cfg, live.tgt, monkeypatch, live, moments)
    early = early_records(target_rows(live.tgt, KLS), moments)
    live.up_to(live.now)
    expected = live.reference(dbs)
    path = dbs.write_cfg({"avg": KEYS})
    log = path.parent / "killed.log"
    with running(spawn(path, "avg", log=log)) as (proc,):
        wait_for(lambda: "before its bin" in log.read_text() or proc.poll() is not None, 120,
                 "the first early bin to be superseded")
        proc.kill()
        proc.wait(timeout=60)
    first = [ln for ln in log.read_text().splitlines() if "before its bin" in ln]
    assert first
    # the rerun in-process: what it says and writes after the kill is the point, not its process
    with caplog.at_level(logging.INFO, logger="scraper.averager"):
        average(commands.settings(str(path), "avg"), allow_create=False)
    said = first + [r.getMessage() for r in caplog.records if "before its bin" in r.getMessage()]
    seqnos = [ln.split("SEQNO ")[1].split()[0] for ln in said]
    assert len(seqnos) == len(set(seqnos)) and len(seqnos) <= len(early)
    assert same(target_rows(live.tgt, KLS), expected + superseded(early))
