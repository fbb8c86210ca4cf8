"""Calendar bins aligned to UTC, and how to find them among naive source-local timestamps in SQL.

The averager writes one validity record per UTC bin (`bin = 1h` -> 00:00-01:00 UTC, ...; bins are
multiples of `bin` counted from 1970-01-01 00:00 UTC, so `1d` bins are UTC days). Source timestamps are
naive wall-clock times in `source_tz`, converted by `Clock.to_utc` with the project's DST rule
(timezones.py). A bin is therefore the set of entries whose *converted* time falls in it; the database
has to decide that for millions of rows without knowing about zones.

The trick: between two UTC-offset transitions, to_utc is `local - offset` (a constant), so inside such
a *segment* the bin is `(epoch_seconds(local) - offset) DIV width` — one integer expression. A territory
chunk is cut into segments at the zone's transitions; the SQL bin expression is a CASE over segment
boundaries (usually just one segment, no CASE). Right after a spring-forward transition the skipped
local hour is clamped onto the transition instant (timezones.py), so that segment's bin is additionally
floored at the transition's bin.

Everything here is pure Python and unit-tested against `Clock.to_utc`; the SQL rendering lives in
averager.py/db.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator

from scraper.core.timezones import Clock

EPOCH = datetime(1970, 1, 1)
_MICRO = timedelta(microseconds=1)


@dataclass(frozen=True)
class Bins:
    """Fixed-width bins counted from the Unix epoch in UTC."""

    width: timedelta

    def __post_init__(self) -> None:
        if self.width < timedelta(seconds=1) or self.width % timedelta(seconds=1):
            raise ValueError(f"bin width {self.width} must be a whole number of seconds")

    @property
    def seconds(self) -> int:
        return int(self.width.total_seconds())

    def index(self, utc: datetime) -> int:
        return (utc - EPOCH) // self.width

    def start(self, index: int) -> datetime:
        return EPOCH + index * self.width

    def floor(self, utc: datetime) -> datetime:
        return self.start(self.index(utc))


@dataclass(frozen=True)
class Segment:
    """Local times [local_start, next segment's local_start) all convert with one UTC offset.

    `floor_bin` is set for a segment that begins at a spring-forward transition: non-existent local
    times there are clamped to the transition instant, whose bin is `floor_bin`.
    """

    local_start: datetime
    offset_s: int
    floor_bin: int | None = None

    def bin_of(self, local: datetime, bins: Bins) -> int:
        """Python mirror of the SQL expression (used by tests to check the SQL, and for docs)."""
        b = ((local - EPOCH) // timedelta(seconds=1) - self.offset_s) // bins.seconds
        return b if self.floor_bin is None else max(b, self.floor_bin)


@dataclass(frozen=True)
class Chunk:
    """One territory chunk: UTC bin-aligned [start, end), the local window selecting exactly its
    entries, and the segments that convert them."""

    index: int
    start: datetime
    end: datetime
    local_lo: datetime
    local_hi: datetime
    segments: tuple[Segment, ...]

    def line(self) -> str:
        """`[0] [Wed Feb 29 15:00:00 2012, Thu Mar 1 00:00:00 2012] 9:00:00` (UTC), as the original."""
        return f"[{self.index}] [{ctime(self.start)}, {ctime(self.end)}] {self.end - self.start}"

    def bin_of(self, local: datetime, bins: Bins) -> int:
        seg = self.segments[0]
        for s in self.segments[1:]:
            if local >= s.local_start:
                seg = s
        return seg.bin_of(local, bins)


def ctime(t: datetime) -> str:
    return f"{t:%a %b} {t.day} {t:%H:%M:%S %Y}"


def _offset(clock: Clock, utc: datetime) -> timedelta:
    return utc.replace(tzinfo=timezone.utc).astimezone(clock.tz).utcoffset() or timedelta(0)


def transitions(clock: Clock, lo: datetime, hi: datetime) -> list[datetime]:
    """UTC instants in (lo, hi] at which the zone's offset changes (scan daily, then bisect: zones
    never change twice within a day)."""
    found: list[datetime] = []
    step = timedelta(days=1)
    a = lo
    while a < hi:
        b = min(a + step, hi)
        if _offset(clock, a) != _offset(clock, b):
            low, high = a, b
            while high - low > _MICRO:
                mid = low + (high - low) / 2
                if _offset(clock, mid) == _offset(clock, a):
                    low = mid
                else:
                    high = mid
            found.append(high)
        a = b
    return found


def local_of(clock: Clock, utc: datetime) -> datetime:
    """The smallest local time whose converted time is >= `utc`: local windows [local_of(a),
    local_of(b)) then select exactly the entries converting into [a, b), DST nights included."""
    off = _offset(clock, utc)
    guess = utc + off
    if clock.to_utc(guess) >= utc and clock.to_utc(guess - _MICRO) < utc:
        return guess
    low, high = utc + off - timedelta(days=2), utc + off + timedelta(days=2)
    while high - low > _MICRO:  # to_utc is monotonic: bisect on microseconds
        mid = low + (high - low) / 2
        if clock.to_utc(mid) >= utc:
            high = mid
        else:
            low = mid
    return high


def segments(clock: Clock, bins: Bins, start: datetime, end: datetime) -> tuple[Segment, ...]:
    first = Segment(local_of(clock, start), int(_offset(clock, start).total_seconds()))
    out = [first]
    for t in transitions(clock, start, end - _MICRO) if end - start > _MICRO else []:
        before, after = _offset(clock, t - _MICRO), _offset(clock, t)
        floor_bin = bins.index(t) if after > before else None
        out.append(Segment(local_of(clock, t), int(after.total_seconds()), floor_bin))
    return tuple(out)


def territory(clock: Clock, bins: Bins, chunk: timedelta, start: datetime, end: datetime) -> Iterator[Chunk]:
    """Chunks covering UTC [start, end) (both bin edges), cut at multiples of `chunk` since the epoch
    — so `chunk = 1d` gives UTC days, like the original's territory bins."""
    if (end - start) % bins.width or (start - EPOCH) % bins.width:
        raise ValueError("territory bounds must be bin edges")
    index, a = 0, start
    while a < end:
        b = min(EPOCH + ((a - EPOCH) // chunk + 1) * chunk, end)
        yield Chunk(index, a, b, local_of(clock, a), local_of(clock, b), segments(clock, bins, a, b))
        index, a = index + 1, b
