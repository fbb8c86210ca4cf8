"""DCS realism for fakers: the order and timing in which fake entries reach the source table.

Real slow-control sources are not a perfect 10 s metronome. Readout software re-inserts a reading
(duplicate timestamps), stops for a while (gaps), flags bad readings (Quality = 0), and buffers rows
that are committed after newer ones (late rows: an older date_time but a higher id). `plan()` is a
pure generator of those events so unit tests can check it without a database; the runner turns each
planned entry into rows. All randomness comes from one `random.Random(profile_seed)`: same settings,
same source.
"""
from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:  # pragma: no cover
    from scraper.config import Settings

NORMAL, DUPLICATE, LATE = "normal", "duplicate", "late"


@dataclass(frozen=True)
class Realism:
    duplicates: float = 0.0  # probability that an entry is written twice with the same date_time
    gaps: float = 0.0  # probability that the source falls silent after an entry ...
    gap: timedelta = timedelta(minutes=10)  # ... for this long (DB time)
    bad_quality: float = 0.0  # probability of Quality = 0 (tables with a Quality column)
    late: float = 0.0  # probability that an entry is held back ...
    late_by: int = 5  # ... and committed after this many newer entries

    @classmethod
    def from_cfg(cls, cfg: "Settings") -> "Realism":
        return cls(cfg.faker_duplicates, cfg.faker_gaps, cfg.faker_gap, cfg.faker_badquality,
                   cfg.faker_late, cfg.faker_late_by)


@dataclass(frozen=True)
class Planned:
    """One entry to write, in write (= id) order."""

    dt: datetime
    kind: str = NORMAL  # normal, duplicate (re-insert of the previous entry) or late
    bad: bool = False  # Quality = 0


class Plan:
    """Entries in the order they are committed (endless iterator). Held-back (late) entries are
    released after `late_by` newer entries; `drain()` hands over the ones still held when the faker
    stops, so a stopped faker commits them late rather than dropping them."""

    def __init__(self, start: datetime, interval: timedelta, realism: Realism, rng: random.Random):
        self.dt, self.interval, self.realism, self.rng = start, interval, realism, rng
        self.held: deque[tuple[int, Planned]] = deque()
        self._n = 0
        self.gaps = 0

    def __iter__(self) -> Iterator[Planned]:
        r, rng = self.realism, self.rng
        while True:
            bad = rng.random() < r.bad_quality
            if rng.random() < r.late:
                self.held.append((self._n + 1 + r.late_by, Planned(self.dt, LATE, bad)))
            else:
                yield Planned(self.dt, NORMAL, bad)
                if rng.random() < r.duplicates:
                    yield Planned(self.dt, DUPLICATE, bad)
            self._n += 1
            while self.held and self.held[0][0] <= self._n:
                yield self.held.popleft()[1]
            self.dt += self.interval
            if rng.random() < r.gaps:
                self.dt += r.gap
                self.gaps += 1

    def drain(self) -> list[Planned]:
        out = [p for _, p in self.held]
        self.held.clear()
        return out
