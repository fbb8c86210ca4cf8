"""Slices of the decimator: where they start, which are closed, and which local times select them.

Slices are the averager's bins (core/bins.py) with width `every`: multiples of `every` counted from
1970-01-01 00:00 UTC, source timestamps converted from `source_tz` with the project's DST rule. The
horizon is the newest entry's time minus `keep`, floored to a slice boundary: a function of the
table's data alone, so thinning a copy of the table gives the same result as thinning the original.
Everything here is pure and unit-tested; the SQL lives in statements.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from scraper.core.bins import Bins, Chunk, local_of, segments
from scraper.core.timezones import Clock
from scraper.core.units import format_duration

DAY = timedelta(days=1)


def check_every(every: timedelta) -> str | None:
    """Why `every` cannot be a slice width, or None: a width that does not divide a day would put
    slice boundaries at different clock times on different days."""
    if every < timedelta(seconds=1) or every % timedelta(seconds=1):
        return f"{format_duration(every)} is not a whole number of seconds (use e.g. 10s, 1m, 1h)"
    if every > DAY or DAY % every:
        return f"{format_duration(every)} does not divide one day (use e.g. 10s, 30s, 1m, 5m, 15m, 1h, 1d)"
    return None


def check_keep(keep: timedelta, every: timedelta) -> str | None:
    if keep < every:
        return (f"{format_duration(keep)} is shorter than every = {format_duration(every)}: the newest slice "
                "would be thinned while it is still being written")
    return None


@dataclass(frozen=True)
class Slicing:
    clock: Clock
    every: timedelta
    keep: timedelta

    @property
    def bins(self) -> Bins:
        return Bins(self.every)

    def floor(self, local: datetime) -> datetime:
        """UTC start of the slice holding the naive source-local time `local`."""
        return self.bins.floor(self.clock.to_utc(local))

    def horizon(self, newest_local: datetime, now_local: datetime | None = None) -> datetime:
        """UTC slice boundary before which every slice is thinned: `keep` before the newest entry, or
        before now when the newest entry is dated later (nothing younger than `keep` by the wall
        clock is thinned, whatever a source's clock wrote)."""
        newest = newest_local if now_local is None else min(newest_local, now_local)
        return self.bins.floor(self.clock.to_utc(newest) - self.keep)

    def index(self, utc: datetime) -> int:
        return self.bins.index(utc)

    def start(self, index: int) -> datetime:
        return self.bins.start(index)

    def window(self, start: datetime, end: datetime) -> Chunk:
        """Slices UTC [start, end) (boundaries): the local window [local_lo, local_hi) selecting exactly
        their entries, and the segments from which the SQL slice expression is built."""
        return Chunk(0, start, end, local_of(self.clock, start), local_of(self.clock, end),
                     segments(self.clock, self.bins, start, end))

    def slices(self, start: datetime, end: datetime) -> int:
        return (end - start) // self.every
