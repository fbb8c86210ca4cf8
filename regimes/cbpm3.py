"""CBPM3 beam-position monitors: 10 Hz readings of several instruments, interleaved in one table.

The monitor's own software writes `cbpm3_data(id, timestamp, instr, top_in, bot_in, bot_out, top_out)`:
one row per instrument per reading, ~10 per second each, with microsecond timestamps. Plots need the
full rate only for recent data, so the table is thinned in place by `mode = decimator` (section
`cbpm3_decimator`): full rate for the newest `keep`, one entry per `every` slice and instrument beyond.
The Source therefore names its time column (`timestamp`, not DCS's `date_time`) and its group column
(`instr`). The faker writes what the monitor writes: per instrument a counter that goes up by one per
reading, in all four channels (section `cbpm3_faker`).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from scraper import Faker, Regime, Source
from scraper.db import DateTime

INSTRUMENTS = ("10AE", "10AW", "12E", "12W", "15E")
CHANNELS = ("top_in", "bot_in", "bot_out", "top_out")


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
    readout walks the instruments), and its counter is the entry's number since `faker_timestart`, so
    a faker stopped and restarted continues the same series."""

    tables = [cbpm3_table(sa.MetaData())]
    time_column = "timestamp"

    def rows(self, table, id, dt: datetime, profile):
        # on the grid of faker_timestart + n * interval, whatever dt a restarted faker resumes from
        n = round((dt - self.cfg.faker_timestart) / self.cfg.interval)
        at = self.cfg.faker_timestart + n * self.cfg.interval
        return [{"id": id + k, "timestamp": at + timedelta(microseconds=137 * k + (n * 7919) % 1000),
                 "instr": instr, **{c: n for c in CHANNELS}}
                for k, instr in enumerate(INSTRUMENTS)]


class Cbpm3(Regime):
    sources = [Source("cbpm3_data", time="timestamp", group="instr")]
    faker = Cbpm3Faker
