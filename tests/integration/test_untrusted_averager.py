"""Averager: bins exact to the microsecond on every backend, and entries dated ahead of the wall clock
never close a bin (docs/operations.md, data that cannot be trusted)."""
from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

import pytest

import sqlalchemy as sa

import factories
from factories import create_lid
from scraper import commands
from support import target_rows
from test_averager import AVG, KLS, expected_bins, lid_rows
from regimes.adlid import LID, adlid_tables
from untrusted import future_times, spoil, utc_now

NEAR = (-999, -500, -478, -1, 0, 1, 478, 500, 999)  # microseconds from a bin edge


def payload_columns(engine: sa.Engine) -> list[str]:
    return [c.name for c in sa.Table(KLS, sa.MetaData(), autoload_with=engine).c if c.name != "SEQNO"]


def average(cfg, **kw):
    kw.setdefault("allow_create", True)
    return commands.run(cfg, **kw)


def edge_rows(base: datetime, edges: int, first_id: int = 1) -> list[dict]:
    rows = lid_rows(base, edges * len(NEAR), timedelta(seconds=1), first_id)
    for n, row in enumerate(rows):
        k, us = divmod(n, len(NEAR))
        row["date_time"] = base + (k + 1) * timedelta(minutes=1) + timedelta(microseconds=NEAR[us])
        row["Quality"] = 1
    return rows


def test_bins_are_exact_to_the_microsecond_within_a_millisecond_of_an_edge(dbs):
    src = dbs.engine("source")
    table = create_lid(src, edge_rows(datetime(2012, 3, 1, 10, 0), 30))
    average(dbs.settings(**{**AVG, "bin": "1m", "territory": "10m"}))
    bins = expected_bins(src, table, "UTC", timedelta(minutes=1))
    assert len(bins) == 30  # 29 edges' entries on both sides, the last bin still open
    got = target_rows(dbs.engine("target"), KLS)
    # membership is the point: first and last entry and the count of each bin (the values' float
    # precision is test_averager's matter)
    assert [(r[0], r[1]) for r in got] == [(rs[0]["date_time"], rs[-1]["date_time"]) for rs in bins.values()]
    counts = [dict(zip(payload_columns(dbs.engine("target")), r[-1][0]))["nsamples"] for r in got]
    assert counts == [len(rs) for rs in bins.values()]


def test_entries_ahead_of_the_clock_close_no_bin_real_clock(dbs, caplog):
    src, tgt = dbs.engine("source"), dbs.engine("target")
    now = utc_now()
    live = factories.lid_rows(400, now - timedelta(minutes=40), timedelta(seconds=5), seed=9)
    table = create_lid(src, live)
    cfg = dbs.settings(**{**AVG, "bin": "10m", "territory": "1h"})
    average(cfg)
    expected = target_rows(tgt, KLS)
    assert expected  # some closed bins of the last 40 minutes
    factories.insert(src, table, factories.lid_rows(2, datetime(2099, 1, 1), first_id=1000)
                     + factories.lid_rows(1, now + timedelta(hours=2), first_id=1002))
    with caplog.at_level(logging.WARNING, logger="scraper.future"):
        summary = average(cfg, drop=True)
    assert target_rows(tgt, KLS) == expected
    assert summary.future == 3
    assert "entries ahead of the clock not read yet 3" in summary.text()
    assert sum("ahead of the clock" in r.getMessage() for r in caplog.records) == 3


@pytest.mark.parametrize("seed", [1, 2])
def test_bad_rows_among_live_entries_average_like_the_same_source_without_them(dbs, seed, caplog):
    """Property: random bad rows (future by minutes to decades, 1970, NULL times, values of the wrong
    kind) among live entries near the real clock: the same bins as the source without them, bad values
    NULL; each bad value the SQL aggregates skip is counted and logged once per column and spell."""
    src, tgt = dbs.engine("source"), dbs.engine("target")
    rng = random.Random(seed)
    now = utc_now()
    live = factories.lid_rows(500, now - timedelta(minutes=45), timedelta(seconds=5), seed=seed)
    cells = sorted({(rng.randrange(1, len(live) + 1), rng.choice(LID)) for _ in range(12)})
    clean = [dict(r) for r in live]
    for id_, column in cells:
        clean[id_ - 1][column] = None
    (table,) = adlid_tables(sa.MetaData())
    table.c.date_time.nullable = True  # a DCS table that takes rows without a time
    table.metadata.create_all(src)
    factories.insert(src, table, clean)
    cfg = dbs.settings(**{**AVG, "bin": "10m", "territory": "1h"})
    average(cfg)
    expected = target_rows(tgt, KLS)
    spoiled = spoil(src, "AD1_LidSensor", cells, rng)
    extra = [{**live[0], "id": 1000 + k, "date_time": t} for k, t in enumerate(future_times(now, rng, 3))]
    never = [{**live[1], "id": 2000, "date_time": datetime(1970, 1, 1, 0, 0, 1)},
             {**live[2], "id": 2001, "date_time": None}, {**live[3], "id": 2002, "date_time": None}]
    factories.insert(src, table, extra + never)
    with caplog.at_level(logging.WARNING, logger="scraper.kinds"):
        summary = average(cfg, drop=True)
    assert rounded(target_rows(tgt, KLS)) == rounded(expected)
    assert summary.future == 3 and summary.before_floor == 3
    # the values the aggregates skipped: those of entries in a closed bin that pass aggregate_filter
    # TIMEEND of the last closed bin: the time of its last entry (source_tz is UTC), which is in the bin
    closed = max(r[1] for r in expected)
    skipped = [(i, c) for i, c in cells if live[i - 1]["date_time"] <= closed and live[i - 1]["Quality"] != 0]
    assert summary.wrong == (len(skipped) if spoiled else 0)
    said = [r.getMessage() for r in caplog.records if r.name == "scraper.kinds"]
    assert len(said) == len(set(said)) and all("read as NULL" in m for m in said)
    assert {m.split(":")[0] for m in said} == {f"AD1_LidSensor.{c}" for _, c in skipped} if spoiled else not said


def rounded(rows: list[tuple]) -> list[tuple]:
    """Aggregates to 9 digits: SQLite may sum the same values in another order around a NULL."""
    return [(*r[:-1], tuple(tuple(round(v, 9) if isinstance(v, float) else v for v in p) for p in r[-1]))
            for r in rows]
