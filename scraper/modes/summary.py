"""What one run of a DBI-writing mode did (scraper, averager): printed at exit, kept in the metrics."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Summary:
    """What one run did, printed at exit so an operator (or the demo) sees it at a glance."""

    section: str
    entries_read: int = 0
    samples: int = 0
    propagations: int = 0
    queries: int = 0
    late: int = 0  # source entries committed behind the cursor: detected, logged, never propagated
    before_floor: int = 0  # source entries before timefloor (or with no time): ignored, never propagated
    future: int = 0  # source entries dated beyond now + future_tolerance at the end: not data yet
    wrong: int = 0  # values of the wrong kind (text, blobs, NaN, ±inf, out of range): read or written as NULL
    skipped: int = 0  # of entries_read, those judged unchanged by the database (the change rule's SQL)
    caught_up: bool = False  # the run stopped because every source was exhausted, not by maxiter/stop
    range_utc: tuple[datetime, datetime] | None = None
    per_source: dict[str, int] = field(default_factory=dict)

    def cover(self, start: datetime, end: datetime) -> None:
        if self.range_utc is None:
            self.range_utc = (start, end)
        else:
            self.range_utc = (min(self.range_utc[0], start), max(self.range_utc[1], end))

    def text(self) -> str:
        covered = (f"{self.range_utc[0]:%Y-%m-%d %H:%M:%S} .. {self.range_utc[1]:%Y-%m-%d %H:%M:%S} UTC"
                   if self.range_utc else "nothing new")
        judged = f" ({self.skipped} judged in SQL)" if self.skipped else ""
        return (f"[{self.section}] entries read {self.entries_read}{judged}, propagations written {self.propagations}, "
                f"validity covered {covered}, source queries {self.queries}"
                + (f", late entries not propagated {self.late}" if self.late else "")
                + (f", entries before timefloor ignored {self.before_floor}" if self.before_floor else "")
                + (f", entries ahead of the clock not read yet {self.future}" if self.future else "")
                + (f", values of the wrong kind read as NULL {self.wrong}" if self.wrong else ""))
