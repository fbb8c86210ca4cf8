"""mode = averager on SQLite and MariaDB: UTC calendar bins, one grouped query per
territory chunk, closed bins only, seamless re-runs — checked against Python over the same rows."""
from __future__ import annotations

import logging
import math
import random
import statistics
import threading
from collections import defaultdict
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from regimes.adlid import LID
import factories
from factories import create_lid, insert
from scraper import commands
from scraper.errors import ConfigError
from scraper.core.timezones import Clock
from support import target_rows, validities

AVG = {"regime": "regimes.adlid:AdLid", "mode": "averager", "timefloor": "2011-01-01 00:00:00",
       "aggregate": "avg,min,max,std", "aggregate_skips": "id,date_time,Quality",
       "aggregate_filter": "Quality != 0", "bin": "1h", "territory": "1d"}
KLS = "DcsAdLidSensor"
FNS = {"avg": statistics.fmean, "min": min, "max": max, "std": statistics.pstdev}


def lid_rows(start: datetime, n: int, step: timedelta, first_id: int = 1) -> list[dict]:
    return factories.lid_rows(n, start, step, first_id=first_id, seed=3, sigma=0.2)


def average(cfg, **kw):
    kw.setdefault("allow_create", True)
    return commands.run(cfg, **kw)


def expected_bins(engine: sa.Engine, table: sa.Table, zone: str, width: timedelta) -> dict[datetime, list[dict]]:
    """Independent of the averager: each good entry converted with the engine's documented rule, put in
    the UTC bin floor((utc - epoch) / width); the bin holding the latest entry is still open."""
    clock, epoch = Clock(zone), datetime(1970, 1, 1)
    with engine.connect() as conn:
        data = [dict(r) for r in conn.execute(sa.select(table).order_by(table.c.date_time, table.c.id)).mappings()]
    floor = lambda t: epoch + ((clock.to_utc(t) - epoch) // width) * width  # noqa: E731
    open_bin = floor(data[-1]["date_time"])
    bins: dict[datetime, list[dict]] = defaultdict(list)
    for r in data:
        if r["Quality"] != 0 and floor(r["date_time"]) < open_bin:
            bins[floor(r["date_time"])].append(r)
    return dict(sorted(bins.items()))


def check_against_python(target: sa.Engine, bins: dict[datetime, list[dict]], zone: str) -> None:
    clock = Clock(zone)
    got = target_rows(target, KLS)
    cols = [c.name for c in sa.Table(KLS, sa.MetaData(), autoload_with=target).c if c.name != "SEQNO"]
    assert [(r[0], r[1]) for r in got] == [(clock.to_utc(rs[0]["date_time"]), clock.to_utc(rs[-1]["date_time"]))
                                          for rs in bins.values()]
    for (start, end, *_r, payload), rs in zip(got, bins.values()):
        (values,) = payload
        row = dict(zip(cols, values))
        assert row["nsamples"] == len(rs)
        for c in LID:
            for fn, f in FNS.items():
                assert math.isclose(row[f"{c}_{fn}"], f([r[c] for r in rs]), rel_tol=1e-9, abs_tol=1e-6), (c, fn)


@pytest.mark.parametrize("width,step,n", [("1h", timedelta(seconds=30), 3000), ("1d", timedelta(minutes=5), 1200)])
def test_bins_are_utc_aligned_and_match_python_statistics(dbs, width, step, n):
    """Asia/Shanghai is UTC+8: hourly bins coincide with local hours, but daily bins run from 08:00 to
    08:00 local — UTC days, as the target is UTC."""
    src = dbs.engine("source")
    table = create_lid(src, lid_rows(datetime(2011, 2, 1, 0, 0, 7), n, step))
    summary = average(dbs.settings(**{**AVG, "bin": width}, source_tz="Asia/Shanghai"))
    bins = expected_bins(src, table, "Asia/Shanghai", timedelta(hours=1) if width == "1h" else timedelta(days=1))
    assert summary.propagations == len(bins) >= 3
    check_against_python(dbs.engine("target"), bins, "Asia/Shanghai")
    if width == "1d":
        assert all(start.hour == 0 and end.date() == start.date()
                   for start, end in validities(dbs.engine("target"), KLS)[1:])


def test_one_grouped_query_per_territory_chunk_and_the_territory_is_logged(dbs, caplog):
    src = dbs.engine("source")
    create_lid(src, lid_rows(datetime(2012, 2, 29, 15, 0, 13), 20 * 60, timedelta(minutes=1)))  # to 11:00 next day
    with caplog.at_level(logging.INFO, logger="scraper"):
        summary = average(dbs.settings(**AVG))
    lines = [r.getMessage() for r in caplog.records if r.name == "scraper.datetimebin"]
    assert lines == ["[0] [Wed Feb 29 15:00:00 2012, Thu Mar 1 00:00:00 2012] 9:00:00",
                     "[1] [Thu Mar 1 00:00:00 2012, Thu Mar 1 10:00:00 2012] 10:00:00"]
    # the count of entries before timefloor, first-entry + latest-entry queries, then per chunk an
    # id-range lookup and ONE grouped query (not one per bin, not one per row)
    assert summary.queries == 1 + 2 + 2 * 2 and summary.propagations == 19


def test_partial_last_bin_is_left_for_the_next_run(dbs):
    src = dbs.engine("source")
    table = create_lid(src, lid_rows(datetime(2011, 2, 1, 6), 4 * 60 + 1, timedelta(minutes=1)))  # 06:00..10:00
    average(dbs.settings(**AVG))
    assert validities(dbs.engine("target"), KLS)[-1][0] == datetime(2011, 2, 1, 9)
    assert len(validities(dbs.engine("target"), KLS)) == 4  # 06, 07, 08, 09; 10:00 alone is open
    again = average(dbs.settings(**AVG))
    assert again.propagations == 0
    insert(src, table, lid_rows(datetime(2011, 2, 1, 10, 1), 60, timedelta(minutes=1), first_id=242))
    average(dbs.settings(**AVG))
    assert validities(dbs.engine("target"), KLS)[-1] == (datetime(2011, 2, 1, 10), datetime(2011, 2, 1, 10, 59))


def test_rerun_after_appending_equals_one_run_over_everything(dbs):
    src, tgt = dbs.engine("source"), dbs.engine("target")
    rows = lid_rows(datetime(2011, 2, 1, 3, 17, 4), 2400, timedelta(seconds=45))  # ~30 h
    table = create_lid(src, rows[:1000])
    cfg = dbs.settings(**AVG, source_tz="Asia/Shanghai")
    average(cfg)
    insert(src, table, rows[1000:1700])
    average(cfg)
    insert(src, table, rows[1700:])
    average(cfg)
    appended = target_rows(tgt, KLS)
    average(cfg, drop=True)  # --DROP_TARGET_TABLES: recompute from scratch
    assert target_rows(tgt, KLS) == appended
    starts = [v[0] for v in validities(tgt, KLS)]
    assert len(starts) == len(set(starts)) and starts == sorted(starts)  # no duplicates, no disorder
    check_against_python(tgt, expected_bins(src, table, "Asia/Shanghai", timedelta(hours=1)), "Asia/Shanghai")


class StopAfter:
    """A stop event that trips after `n` checks: the averager checks it before every chunk."""

    def __init__(self, n: int):
        self.n, self.event = n, threading.Event()

    def is_set(self) -> bool:
        self.n -= 1
        return self.n < 0

    def set(self) -> None:
        self.n = 0

    def wait(self, timeout=None) -> bool:
        return self.is_set()


def test_stopping_between_chunks_and_resuming_gives_the_same_target(dbs):
    src, tgt = dbs.engine("source"), dbs.engine("target")
    create_lid(src, lid_rows(datetime(2011, 2, 1, 5), 5 * 24 * 12, timedelta(minutes=5)))  # 5 days
    cfg = dbs.settings(**AVG)
    average(cfg)
    whole = target_rows(tgt, KLS)
    for n in (1, 2, 4):
        average(cfg, drop=True, stop=StopAfter(n))
        assert 0 < len(target_rows(tgt, KLS)) < len(whole)
        average(cfg)
        assert target_rows(tgt, KLS) == whole


@pytest.mark.parametrize("width", ["1h", "1d"])
@pytest.mark.parametrize("night", [datetime(2011, 3, 26, 12), datetime(2011, 10, 29, 12)])
def test_dst_nights_follow_the_engines_local_time_rule(dbs, width, night):
    """Europe/Zurich: entries every minute of local wall-clock time, including the non-existent hour of
    spring-forward and the repeated hour of fall-back; bins must be what Clock.to_utc says."""
    src = dbs.engine("source")
    table = create_lid(src, lid_rows(night, 36 * 60, timedelta(minutes=1)))
    average(dbs.settings(**{**AVG, "bin": width, "territory": "12h" if width == "1h" else "1d"},
                         source_tz="Europe/Zurich"))
    bins = expected_bins(src, table, "Europe/Zurich", timedelta(hours=1) if width == "1h" else timedelta(days=1))
    check_against_python(dbs.engine("target"), bins, "Europe/Zurich")


@pytest.mark.parametrize("keys,key", [({"aggregate": ""}, "aggregate"), ({"territory": "90m"}, "territory"),
                                      ({"bin": "0.5s"}, "bin")])
def test_averager_settings_mistakes_name_the_key(sqlite_dbs, keys, key):
    create_lid(sqlite_dbs.engine("source"), lid_rows(datetime(2011, 2, 1), 10, timedelta(minutes=1)))
    with pytest.raises(ConfigError) as err:
        average(sqlite_dbs.settings(**{**AVG, **keys}))
    assert err.value.key == key


def test_sigkill_at_a_random_moment_then_rerun_gives_the_same_target(dbs):
    """Each chunk is one transaction: killing the averager process anywhere leaves whole chunks only,
    and the next run continues after them."""
    import subprocess
    import sys
    import time

    src, tgt = dbs.engine("source"), dbs.engine("target")
    create_lid(src, lid_rows(datetime(2011, 2, 1, 5), 8 * 24 * 60, timedelta(minutes=1)))  # 8 days
    path = dbs.write_cfg({"avg": {**AVG, "territory": "6h", "loglevel": "WARNING"}})
    cfg = commands.settings(str(path), "avg")
    average(cfg)  # the uninterrupted run: in-process, as only the killed run needs a process of its own
    whole = target_rows(tgt, KLS)
    cmd = [sys.executable, "-m", "scraper", "--cfg", str(path), "-s", "avg", "--ALLOW_DROP_CREATE_TABLE"]
    proc = subprocess.Popen(cmd + ["--DROP_TARGET_TABLES"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(random.Random(dbs.backend).uniform(0.6, 1.2))  # start-up, then a few chunks
    finally:
        proc.kill()
        proc.wait()
    average(cfg)  # the rerun after the kill, continuing after the whole chunks it left
    assert target_rows(tgt, KLS) == whole
