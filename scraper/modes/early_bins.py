"""Bins an older averager closed too early: found at start-up, averaged again, superseded.

An averager leaves the bin holding the source's latest entry open for a later run. A version without
the wall-clock bound (core/wallclock.py) that met an entry dated in the future took every real bin for
closed: it wrote the bin holding "now" with the entries it had so far (and, running on, every later bin
as soon as it had one entry). A resume starts after such a record, so the rest of its bin's entries
never reached the target.

The validity table says when each record was written (INSERTDATE, read from the same wall clock). A
current averager closes a bin once it has read an entry of a later bin, and it reads entries up to now
+ `future_tolerance`: it writes a record at most `future_tolerance` before its bin ends. A record whose
bin ends later than INSERTDATE + `future_tolerance` was written before its bin was over, by an older
version. An older version run from cron left one such record a run, between complete bins, so at
start-up every record of the context is looked at (one query, the database comparing INSERTDATE with
TIMESTART; only the few early candidates come back), not only the newest.

Each bin of such a record that is closed now is averaged again on its own, before the territory (one
grouped query), and the early record is superseded in the very transaction that writes the bin's new
record (DbiWriter.write_many): closed at its start, its row and payload kept (nothing is deleted), as
close_ahead does to a record ahead of the clock. A record that a newer one covers is superseded and is
never looked at again, a single-entry one (TIMESTART == TIMEEND) included. So a run killed anywhere
leaves each early record either untouched, to be found by the next run, or closed with its replacement
written: the target of an uninterrupted run. Each is said once, as a WARNING, when superseded. An early
record of the bin still open stays as it is, still valid for what it holds, until the bin closes.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from scraper.core.bins import Bins
from scraper.targets.dbi import Context, DbiWriter, Written

log = logging.getLogger("scraper.averager")


class EarlyBins:
    """The early records of one context, by bin index, until superseded."""

    def __init__(self, bins: Bins, found: list[Written]):
        self.bins = bins
        self.pending: dict[int, list[Written]] = {}
        for rec in found:
            self.pending.setdefault(bins.index(rec.timestart), []).append(rec)

    @classmethod
    def find(cls, writer: DbiWriter, ctx: Context, bins: Bins, ceiling: datetime, floor: datetime,
             tolerance: timedelta) -> "EarlyBins":
        """The records of `ctx` ending in [floor, ceiling] (UTC: timefloor, now + tolerance) written
        before their bin was over, and not yet superseded."""
        # written less than (bin - tolerance) after its start: true of every early record (a bin ends at
        # most `bin` after a record's start), and the database can tell it; the exact test is here
        slack = bins.seconds - int(tolerance.total_seconds())
        found = writer.written_soon(ctx, slack, ceiling, floor)
        return cls(bins, [r for r in found if bins.start(bins.index(r.timestart) + 1) > r.insertdate + tolerance])

    def closed(self, end: datetime) -> list[tuple[datetime, datetime]]:
        """[start, end) of each bin with an early record that is closed now (before `end`, the open bin)."""
        return [(self.bins.start(i), self.bins.start(i + 1)) for i in sorted(self.pending) if self.bins.start(i) < end]

    def waiting(self, end: datetime) -> list[Written]:
        """Early records of bins not closed yet (at or after `end`, the open bin): left as they are."""
        return [rec for index, recs in sorted(self.pending.items()) if self.bins.start(index) >= end for rec in recs]

    def superseded_by(self, records: list[tuple]) -> list[Written]:
        """The early records of the bins `records` (context, start, end, rows) write anew."""
        out: list[Written] = []
        for _ctx, start, _end, _rows in records:
            out += self.pending.get(self.bins.index(start), [])
        return out

    def done(self, superseded: list[Written], label: str, ctx: Context) -> None:
        """`superseded` are committed closed: said once each, and forgotten."""
        for rec in superseded:
            index = self.bins.index(rec.timestart)
            self.pending.pop(index, None)
            log.warning("%s %s: validity record SEQNO %d [%s, %s] UTC was written at %s UTC, before its bin "
                        "[%s, %s) was over (an older version closed the bin early, having read an entry dated in "
                        "the future): the bin is averaged again from all its entries, and SEQNO %d now ends at its "
                        "start, its payload kept", label, ctx, rec.seqno, rec.timestart, rec.timeend, rec.insertdate,
                        self.bins.start(index), self.bins.start(index + 1), rec.seqno)
