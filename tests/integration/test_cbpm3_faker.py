"""The cbpm3 faker writes what five beam-position monitors would: each instrument its own level,
offset, drift and noise (so a plot tells them apart), the same series on every run and across a stop
and restart (tests and the docs' numbers rely on it)."""
from __future__ import annotations

import statistics

import sqlalchemy as sa

from regimes.cbpm3 import CHANNELS, INSTRUMENTS
from scraper import commands

FAKER = {"regime": "regimes.cbpm3:Cbpm3", "mode": "faker", "source_tz": "UTC", "interval": "0.1s",
         "faker_timestart": "2020-11-04 09:03:01", "sleep": 0}


def rows(dbs) -> list[tuple]:
    with dbs.engine("source").connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            f"SELECT id, timestamp, instr, {', '.join(CHANNELS)} FROM cbpm3_data ORDER BY id"))]


def fake(dbs, maxiter: int, drop: bool) -> None:
    commands.run(dbs.settings(**FAKER, maxiter=maxiter, faker_dropsrc=drop), catchup=True)


def test_instruments_carry_distinct_noisy_drifting_signals(sqlite_dbs):
    fake(sqlite_dbs, 3000, drop=True)  # 5 minutes at 10 Hz
    found = rows(sqlite_dbs)
    assert len(found) == 3000 * len(INSTRUMENTS)
    series = {i: {c: [r[3 + k] for r in found if r[2] == i] for k, c in enumerate(CHANNELS)} for i in INSTRUMENTS}
    levels = sorted(statistics.mean(series[i]["top_in"]) for i in INSTRUMENTS)
    assert min(b - a for a, b in zip(levels, levels[1:])) > 200, levels  # each instrument its own level
    for i in INSTRUMENTS:
        top = series[i]["top_in"]
        steps = [b - a for a, b in zip(top, top[1:])]
        assert len(set(steps)) > 20 and statistics.pstdev(steps) > 10  # noise, not a ramp of +1
        means = {c: statistics.mean(v) for c, v in series[i].items()}
        assert max(means.values()) - min(means.values()) > 100  # the beam's offset: buttons differ
        first, last = statistics.mean(top[:300]), statistics.mean(top[-300:])
        assert abs(first - last) > 20  # drift and decay over the five minutes
        assert all(10000 < v < 30000 for v in top)  # ADC counts of a stored beam, not a counter


def test_the_series_is_the_same_on_every_run_and_across_a_restart(sqlite_dbs):
    fake(sqlite_dbs, 1200, drop=True)
    whole = rows(sqlite_dbs)
    fake(sqlite_dbs, 1200, drop=True)
    assert rows(sqlite_dbs) == whole
    fake(sqlite_dbs, 500, drop=True)
    fake(sqlite_dbs, 700, drop=False)  # a restarted faker continues where the table ends
    assert rows(sqlite_dbs) == whole
