"""source_tz across DST changes (issue 2 item 8): a DCS writing Europe/Zurich wall-clock time, every 10 s,
through spring-forward (2011-03-27 02:00 -> 03:00) and fall-back (2011-10-30 03:00 -> 02:00).

The rule (scraper/timezones.py, docs/concepts.md): an ambiguous local time is its FIRST occurrence
(fold=0); a non-existent one is clamped to the instant of the jump. Target times are always UTC.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from factories import create_adtemp, insert
from regimes.adtemp import adtemp_tables
from scraper.core.timezones import Clock
from regimes.adtemp import AdTemp
from scraper.api import Source
from support import scrape, target_rows, validities

ZURICH = ZoneInfo("Europe/Zurich")
STEP = timedelta(seconds=10)
REGIME = {"regime": "regimes.adtemp:AdTemp", "interval": "10s", "maxage": "2m", "threshold": 0.5,
          "source_tz": "Europe/Zurich", "timefloor": "2011-01-01 00:00:00"}
SPRING = (datetime(2011, 3, 27, 0, 0), datetime(2011, 3, 27, 2, 0))     # UTC: local 01:00 .. 04:00
FALL = (datetime(2011, 10, 29, 23, 0), datetime(2011, 10, 30, 3, 0))    # UTC: local 01:00 .. 04:00
REPEATED_HOUR_UTC = (datetime(2011, 10, 30, 1, 0), datetime(2011, 10, 30, 2, 0))  # second pass 02:xx


def dcs_rows(window: tuple[datetime, datetime], seed: int, clock: str = "local") -> list[dict]:
    """Entries every 10 s of true UTC time; `date_time` as the DCS clock shows it (naive local or UTC).
    A seeded random walk on PT1 makes some samples change and others run into maxage."""
    rng, value, rows = random.Random(seed), 20.0, []
    t = window[0]
    while t < window[1]:
        if rng.random() < 0.1:
            value = round(value + rng.choice([-1, 1]) * rng.uniform(0.2, 1.2), 3)
        shown = t.replace(tzinfo=timezone.utc).astimezone(ZURICH).replace(tzinfo=None) if clock == "local" else t
        rows.append({"id": len(rows) + 1, "date_time": shown, "Temp_PT1": value, "Temp_PT2": 21.0,
                     "Temp_PT3": 22.0, "Temp_PT4": 23.0, "Temp_PT5": 24.0})
        t += STEP
    return rows


class UtcClockedAdTemp(AdTemp):
    """The same regime reading a twin table whose DCS clock runs in UTC: the reference for DST runs."""

    sources = [Source("DBNS_SAB_Temp_UTC", sitemask=1, subsite=1)]


def utc_clocked_table(engine: sa.Engine) -> sa.Table:
    (local,) = adtemp_tables(sa.MetaData())
    table = sa.Table("DBNS_SAB_Temp_UTC", sa.MetaData(), *(c._copy() for c in local.columns))
    table.metadata.create_all(engine)
    return table


def assert_contiguous_monotonic_utc(chain: list[tuple[datetime, datetime]]) -> None:
    assert chain
    for start, end in chain:
        assert start <= end
    for a, b in zip(chain, chain[1:]):
        assert b[0] == a[1], f"gap or overlap between {a} and {b}"


def test_spring_forward_matches_a_utc_clocked_source_apart_from_the_jump(dbs):
    """Every written local time exists and is unambiguous, so away from the jump the target equals
    scraping the very same entries stamped in UTC. At the jump the wall clock advances an hour in
    10 s; age (sv[-1].t - sv[0].t) is wall-clock time, so the first entry after the jump always
    proceeds (documented in scraper/timezones.py): the record before it ends at 01:00:00 UTC."""
    src = dbs.engine("source")
    insert(src, create_adtemp(src), dcs_rows(SPRING, seed=3))
    insert(src, utc_clocked_table(src), dcs_rows(SPRING, seed=3, clock="utc"))
    scrape(dbs.settings(**REGIME))
    utc_regime = {**REGIME, "regime": "test_timezones:UtcClockedAdTemp", "source_tz": "UTC"}
    scrape(dbs.settings(**{**utc_regime, "kls": "UtcAdTemp"}))
    scrape(dbs.settings(**{**utc_regime, "kls": "UtcAfterAdTemp", "timefloor": "2011-03-27 01:00:00"}))
    tgt = dbs.engine("target")
    jump = datetime(2011, 3, 27, 1, 0)
    got, utc = target_rows(tgt, "DcsAdTemp"), target_rows(tgt, "UtcAdTemp")
    assert [r for r in got if r[1] < jump] == [r for r in utc if r[1] < jump]
    assert [r[:2] for r in got if r[1] >= jump][0][1] == jump
    assert [r for r in got if r[0] >= jump] == target_rows(tgt, "UtcAfterAdTemp")
    chain = validities(tgt, "DcsAdTemp")
    assert_contiguous_monotonic_utc(chain)
    assert len([v for v in chain if v[1] < jump]) > 10 and len([v for v in chain if v[0] >= jump]) > 10


def test_fall_back_follows_the_first_occurrence_rule_and_stays_contiguous(dbs):
    src = dbs.engine("source")
    rows = dcs_rows(FALL, seed=5)
    insert(src, create_adtemp(src), rows)
    scrape(dbs.settings(**REGIME))
    tgt = dbs.engine("target")
    chain = validities(tgt, "DcsAdTemp")
    assert_contiguous_monotonic_utc(chain)
    clock = Clock("Europe/Zurich")
    converted = {clock.to_utc(r["date_time"]) for r in rows}
    times = {t for v in chain for t in v}
    assert times <= converted  # every boundary is a source entry's time under the rule
    # fold=0: both passes through 02:00..02:59 local are written at the first pass's UTC instants,
    # so no boundary falls inside the true-UTC hour of the second pass ...
    assert not [t for t in times if REPEATED_HOUR_UTC[0] <= t < REPEATED_HOUR_UTC[1]]
    # ... while outside the repeated hour every time is the true UTC instant (local - 2h, then - 1h)
    true_utc = {r["date_time"]: r["date_time"] - timedelta(hours=2 if r["date_time"].hour < 3 else 1)
                for r in rows}
    assert all(true_utc[l] == clock.to_utc(l) for l in true_utc)
    assert any(datetime(2011, 10, 30, 0, 0) <= t < datetime(2011, 10, 30, 1, 0) for t in times)
    assert chain[-1][1] >= datetime(2011, 10, 30, 2, 50)


def test_restart_inside_the_repeated_hour_gives_the_uninterrupted_target(dbs):
    src = dbs.engine("source")
    insert(src, create_adtemp(src), dcs_rows(FALL, seed=11))
    scrape(dbs.settings(**{**REGIME, "kls": "OnceAdTemp"}))
    expected = target_rows(dbs.engine("target"), "OnceAdTemp")
    rng = random.Random(30)
    # 360 entries precede local 02:00; the repeated hour holds 720 more (two passes, interleaved), of
    # which the samples skip those within `interval` after a propagation: ~600 samples inside.
    stops = [rng.randint(365, 900) for _ in range(3 if dbs.backend == "sqlite" else 2)]
    for trial, stop in enumerate(stops):
        kls = f"Restarted{trial}AdTemp"
        for maxiter in (stop, rng.randint(5, 60), rng.randint(5, 60), 0):  # 0: run to the end
            summary = scrape(dbs.settings(overrides={"maxiter": maxiter}, **{**REGIME, "kls": kls}))
            last = validities(dbs.engine("target"), kls)[-1][1]
            if maxiter == stop:
                assert datetime(2011, 10, 30, 0, 0) <= last <= datetime(2011, 10, 30, 1, 0), \
                    f"stop after {stop} samples is not inside the repeated hour ({last} UTC)"
        assert summary.caught_up
        assert target_rows(dbs.engine("target"), kls) == expected, f"stop after {stop} samples"
