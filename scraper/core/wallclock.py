"""The wall clock, read in one place: what "now" is for every bound a mode puts on the data it reads.

A control room's clocks are not all right. An entry dated tomorrow (a DCS whose clock jumped, a typo
in a hand-made row) is not data yet: read, it would move a scraper's bookmark, a decimator's horizon
or an averager's closed bins to a time the source will not reach for a day, or a century. So every
mode reads only entries dated up to `bound()`: now in `source_tz` plus `future_tolerance` (the
slack a slightly fast DCS clock deserves). The rest wait, in their (time, id) place, until the clock
reaches them (docs/operations.md, data that cannot be trusted).

`now_utc` is the only reading of the clock behind those bounds; tests move it with pytest's
monkeypatch, nothing in the code does.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from scraper.core.timezones import zone


def now_utc() -> datetime:
    """Now, naive UTC (the target's times)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def now_local(tzname: str) -> datetime:
    """Now as a naive wall-clock time of `tzname` (the source's times)."""
    return now_utc().replace(tzinfo=timezone.utc).astimezone(zone(tzname)).replace(tzinfo=None)


FRESH = 0.2  # seconds a bound is reused: a catch-up asks at every search (~10 000 a second), while a
             # tolerance of minutes makes a fraction of a second of the clock irrelevant


class Bound:
    """The newest source-local time that is data now: now in `tzname` + `tolerance`."""

    def __init__(self, tzname: str, tolerance: timedelta):
        self.tzname, self.tolerance = tzname, tolerance
        self._at, self._value = float("-inf"), datetime.min

    @classmethod
    def of(cls, cfg) -> "Bound":
        return cls(cfg.source_tz, cfg.get("future_tolerance", timedelta(minutes=5)))

    def __call__(self) -> datetime:
        tick = time.monotonic()
        if tick - self._at >= FRESH:
            self._at, self._value = tick, now_local(self.tzname) + self.tolerance
        return self._value

    def now(self) -> datetime:
        """Now in the source's zone, without the tolerance (lags, horizons)."""
        return now_local(self.tzname)
