"""CBPM3 beam-position monitors: 10 Hz readings of several instruments, interleaved in one table.

The monitor's own software writes `cbpm3_data(id, timestamp, instr, top_in, bot_in, bot_out, top_out)`:
one row per instrument per reading, ~10 per second each, with microsecond timestamps. Plots need the
full rate only for recent data, so the table is thinned in place by `mode = decimator` (section
`cbpm3_decimator`): full rate for the newest `keep`, one entry per `every` slice and instrument beyond.
The Source therefore names its time column (`timestamp`, not DCS's `date_time`) and its group column
(`instr`). The faker writes what the monitor writes (section `cbpm3_faker`): per instrument the four
button signals (ADC counts) of a beam stored at that instrument's own offset, drifting slowly, with
readout noise, the beam current decaying as a stored beam does.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta

import sqlalchemy as sa

from scraper import Faker, Regime, Source
from scraper.db import DateTime

INSTRUMENTS = ("10AE", "10AW", "12E", "12W", "15E")
CHANNELS = ("top_in", "bot_in", "bot_out", "top_out")
# Per instrument: button gain (ADC counts at full current), beam offset x, y (mm) and drift phase.
# Real monitors differ in all three, so each instrument's curves stand apart on a plot.
BEAMS = {"10AE": (21000, 0.42, -0.12, 0.0), "10AW": (18500, -0.31, 0.22, 1.3), "12E": (19800, 0.15, 0.35, 2.6),
         "12W": (20600, -0.58, -0.05, 3.9), "15E": (17900, 0.27, -0.28, 5.2)}
SENSITIVITY = 0.08  # fraction of a button's signal per mm of beam offset towards it
DRIFT_MM, DRIFT_PERIOD_S = 0.12, 420.0  # orbit drift: amplitude and period
LIFETIME_S = 4 * 3600.0  # the stored beam current decays with this lifetime
NOISE = 0.004  # readout noise, a fraction of the signal


def _jitter(*key: int) -> float:
    """A reproducible number in [-0.5, 0.5) from integers (a 32-bit mix): noise that a faker stopped
    and restarted writes again exactly, without a random state to carry over."""
    h = 0
    for k in key:
        h = (h ^ k) * 0x9E3779B1 & 0xFFFFFFFF
        h ^= h >> 15
        h = h * 0x2C1B3C6D & 0xFFFFFFFF
        h ^= h >> 13
    return h / 2 ** 32 - 0.5


def button_signals(instr: str, k: int, n: int, seconds: float) -> dict[str, int]:
    """The four button signals of instrument `instr` (number `k`) at reading `n`, `seconds` after the
    faker's start: top/bottom x inner/outer buttons see the beam's offset with opposite signs."""
    gain, x0, y0, phase = BEAMS[instr]
    drift = DRIFT_MM * math.sin(2 * math.pi * seconds / DRIFT_PERIOD_S + phase)
    x = x0 + drift + 0.02 * _jitter(n, k, 7)
    y = y0 - 0.5 * drift + 0.02 * _jitter(n, k, 11)
    current = gain * math.exp(-seconds / LIFETIME_S)
    sides = {"top_in": (y, -x), "bot_in": (-y, -x), "bot_out": (-y, x), "top_out": (y, x)}
    return {c: round(current * (1 + SENSITIVITY * (dy + dx)) * (1 + NOISE * _jitter(n, k, i)))
            for i, (c, (dy, dx)) in enumerate(sides.items())}


def cbpm3_table(metadata: sa.MetaData, name: str = "cbpm3_data") -> sa.Table:
    return sa.Table(
        name, metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("timestamp", DateTime, nullable=False, index=True),
        sa.Column("instr", sa.String(16), nullable=False),
        *(sa.Column(c, sa.Integer) for c in CHANNELS),
        mysql_engine="InnoDB",
    )


class Cbpm3Faker(Faker):
    """One row per instrument per entry; `interval = 0.1s` is the monitor's 10 Hz.

    Each instrument's timestamp trails the entry's DB time by a few hundred microseconds (as the
    readout walks the instruments); its signals are a function of the entry's number since
    `faker_timestart` alone, so a faker stopped and restarted continues the same series."""

    tables = [cbpm3_table(sa.MetaData())]
    time_column = "timestamp"

    def rows(self, table, id, dt: datetime, profile):
        # on the grid of faker_timestart + n * interval, whatever dt a restarted faker resumes from
        n = round((dt - self.cfg.faker_timestart) / self.cfg.interval)
        at = self.cfg.faker_timestart + n * self.cfg.interval
        seconds = n * self.cfg.interval.total_seconds()
        return [{"id": id + k, "timestamp": at + timedelta(microseconds=137 * k + (n * 7919) % 1000),
                 "instr": instr, **button_signals(instr, k, n, seconds)}
                for k, instr in enumerate(INSTRUMENTS)]


class Cbpm3(Regime):
    sources = [Source("cbpm3_data", time="timestamp", group="instr")]
    units = {c: "ADC counts" for c in CHANNELS}
    faker = Cbpm3Faker
