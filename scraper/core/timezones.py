"""Naive source-local wall-clock times <-> naive UTC times of the target.

DCS databases store wall-clock time without a zone; DBI tables store UTC. At DST changes local time is
not a function of UTC, so the rule is fixed here, once, and documented in docs/concepts.md:

* ambiguous local times (the repeated hour when clocks go back) are read as the FIRST occurrence
  (daylight time, `fold=0`);
* non-existent local times (the skipped hour when clocks go forward; a correct DCS clock never writes
  them) are clamped to the instant of the jump: 02:00..02:59 on a spring-forward night of
  Europe/Zurich all become 01:00 UTC, like 03:00 local does.

Both rules are deterministic (a restart converts every entry exactly as the first run did) and keep the
conversion monotonic, so TIMESTART <= TIMEEND holds for every validity record.

Only target times are converted: age and cursor arithmetic (docs/concepts.md) stay on the source's wall clock, so at
spring-forward the hour-long jump counts as age and the first entry after it always proceeds.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

UTC = timezone.utc


@lru_cache(maxsize=None)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class Clock:
    """Converter bound to one source zone."""

    def __init__(self, tzname: str):
        self.tzname = tzname
        self.tz = zone(tzname)
        self._identity = tzname in ("UTC", "Etc/UTC", "Zulu")
        # local hour -> its UTC offset when constant over the whole hour, else None (see to_utc)
        self._hours: dict[datetime, timedelta | None] = {}

    def to_utc(self, local: datetime) -> datetime:
        """The rule of the module docstring. The offset is constant over nearly every local hour, so it
        is cached per hour (a catch-up converts two times per propagation: ~20 us each on the loaded
        box, bench/); an hour holding a DST change (the offsets at its first and last microsecond
        differ: gap or repeated hour) is converted entry by entry."""
        if self._identity:
            return local
        hour = local.replace(minute=0, second=0, microsecond=0)
        try:
            offset = self._hours[hour]
        except KeyError:
            if len(self._hours) > 100_000:
                self._hours.clear()
            last = hour + timedelta(hours=1, microseconds=-1)
            first_off = hour - self._convert(hour)
            offset = self._hours[hour] = first_off if first_off == last - self._convert(last) else None
        return local - offset if offset is not None else self._convert(local)

    def _convert(self, local: datetime) -> datetime:
        before = local.replace(tzinfo=self.tz, fold=0).astimezone(UTC)
        if before.astimezone(self.tz).replace(tzinfo=None) == local:
            return before.replace(tzinfo=None)
        return self._jump_instant(local.replace(tzinfo=self.tz, fold=1).astimezone(UTC), before)

    def _jump_instant(self, low: datetime, high: datetime) -> datetime:
        """First UTC instant whose local time is past the gap (bisection; gaps are rare)."""
        offset_low = low.astimezone(self.tz).utcoffset()
        while high - low > timedelta(microseconds=1):
            mid = low + (high - low) / 2
            if mid.astimezone(self.tz).utcoffset() == offset_low:
                low = mid
            else:
                high = mid
        return high.replace(tzinfo=None)

    def to_local(self, utc: datetime) -> datetime:
        """The source-local time to use when starting from a UTC bookmark."""
        candidates = self.local_candidates(utc)
        return candidates[0] if candidates else utc.replace(tzinfo=UTC).astimezone(self.tz).replace(tzinfo=None)

    def local_candidates(self, utc: datetime) -> list[datetime]:
        """Every naive local time that `to_utc` maps onto `utc` (usually one; none only for a UTC
        instant inside a repeated hour's second pass, which to_utc never produces)."""
        if self._identity:
            return [utc]
        found = set()
        aware = utc.replace(tzinfo=UTC)
        for probe in (aware - timedelta(hours=26), aware, aware + timedelta(hours=26)):
            offset = probe.astimezone(self.tz).utcoffset()
            local = (utc + offset).replace(tzinfo=None)
            if self.to_utc(local) == utc:
                found.add(local)
        return sorted(found)


EPOCH = datetime(1970, 1, 1)


class UnixClock:
    """Naive source-local times -> UTC unix seconds (int for whole seconds, float otherwise), by the
    rules of Clock, fast: a bridge converts every entry, a million per backfill. The UTC offset is
    constant over nearly every hour, so it is cached per local hour; an hour holding a DST change
    (the offset at its first and last microsecond differ) is converted entry by entry."""

    def __init__(self, tzname: str):
        self.clock = Clock(tzname)
        self._offsets: dict[datetime, timedelta | None] = {}

    def offset(self, local: datetime) -> timedelta | None:
        hour = local.replace(minute=0, second=0, microsecond=0)
        try:
            return self._offsets[hour]
        except KeyError:
            pass
        if len(self._offsets) > 100_000:
            self._offsets.clear()
        last = hour + timedelta(hours=1, microseconds=-1)
        first_off = hour - self.clock.to_utc(hour)
        steady = first_off == last - self.clock.to_utc(last)
        self._offsets[hour] = first_off if steady else None
        return self._offsets[hour]

    def unix(self, local: datetime) -> int | float:
        offset = self.offset(local)
        utc = local - offset if offset is not None else self.clock.to_utc(local)
        delta = utc - EPOCH
        if delta.microseconds:
            return delta.days * 86400 + delta.seconds + delta.microseconds / 1e6
        return delta.days * 86400 + delta.seconds
