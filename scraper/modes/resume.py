"""Resuming a scraper from its target: each source vector rebuilt from its last validity record.

There is no state outside the target (docs/concepts.md, resuming): the last record's TIMEEND is the
source entry the last propagation ended on, which becomes sv[0] again, so a restart at any point
gives the same target as one uninterrupted run. A record ending ahead of the wall clock, left by a
version that read an entry dated in the future, is closed at its start first (DbiSection.repair_ahead),
so one bad row never holds a section back until its date.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from scraper.api import Source
from scraper.config import Settings
from scraper.core.sourcevector import Instance, SourceVector, same_values
from scraper.modes.dbi_section import DbiSection, is_production
from scraper.sources.sql.reader import SourceReader
from scraper.targets.dbi import Context

log = logging.getLogger("scraper.engine")
REPLAY_RECORDS = 2000  # how far back a resume may look for an unambiguous start (a repeated DST hour
                       # sampled every 10 s with a change each sample holds 360 records)


class Resume:
    """`resume(src, reader)`: the source vector a scraper continues with."""

    def __init__(self, cfg: Settings, section: DbiSection, context: Callable[[Source], Context]):
        self.cfg, self.section, self.context = cfg, section, context
        self.clock, self.writer, self.scraper = section.clock, section.writer, section.scraper

    def __call__(self, src: Source, reader: SourceReader) -> SourceVector:
        cfg, ctx = self.cfg, self.context(src)
        floor = self.clock.to_utc(cfg.timefloor)
        reader.floor = cfg.timefloor
        ceiling = self.clock.to_utc(reader.bound())
        self.section.repair_ahead(src, ctx, ceiling)
        last = self.writer.last_validity(ctx, floor, ceiling)
        if last is None and cfg.seed_target_tables:
            self._seed(src, ctx)
            last = self.writer.last_validity(ctx, floor, ceiling)
        if last is None:
            sv = SourceVector(src, cfg.timefloor)
            log.info("timecursor(local) %s %s: empty target, starting at timefloor", src.label, ctx)
            return sv
        at_end = reader.entries_at(self.clock.local_candidates(last.timeend), 2)
        first = at_end[0] if at_end else None
        if len(at_end) > 1:
            first = self._replay(src, reader, last, first, ceiling) or first
        if first is None:
            end = self.clock.to_local(last.timeend)
            log.warning("%s: source has no entry at the last TIMEEND %s (UTC); the next validity record "
                        "will not be contiguous", src.label, last.timeend)
            return SourceVector(src, end + cfg.interval)
        sv = SourceVector(src, first.t + cfg.interval, first)
        log.info("timecursor(local) %s %s: resuming after SEQNO %d at %s", src.label, ctx, last.seqno, sv.tcursor)
        return sv

    def _replay(self, src: Source, reader: SourceReader, last: Any, end: Instance, ceiling: Any) -> Instance | None:
        """Several entries share the last TIMEEND (a DCS re-insert, or both passes through the repeated
        hour when DST ends): which one did that propagation end on? Replay the same rules from the
        newest record whose TIMESTART is one entry (or twins with identical values) and whose
        predecessor ends there: at that point the uninterrupted run's state is known exactly (sv[0] =
        that entry, tcursor = its time + interval). In a repeated DST hour every TIMESTART is shared by
        two entries with different values, hence the walk back. Only at start-up, only in this case.
        None when the replay cannot tell, and the earliest entry is used."""
        chain = self.writer.recent_validities(self.context(src), REPLAY_RECORDS, ceiling)
        start = None
        for rec, older in zip(chain, chain[1:]):
            if older.timeend != rec.timestart:
                break
            twins = reader.entries_at(self.clock.local_candidates(rec.timestart), 50)
            if twins and all(same_values(twins[0], twin) for twin in twins[1:]):
                start = twins[0]  # identical re-inserts: whichever was sv[0], decisions are the same
                break
        if start is None:  # best effort: the earliest entry at the last record's start
            start = reader.entry_at(self.clock.local_candidates(last.timestart))
        if start is None:
            return None
        read_before, found = reader.entries_read, None
        sv = SourceVector(src, start.t + self.cfg.interval, start)
        while (inst := reader.next_entry(sv.tcursor, sv.last_key, self.cfg.offset)) is not None:
            if inst.t > end.t:
                break
            sv.sample(inst, self.scraper.changed, self.cfg.maxage)
            if sv.proceed:
                if self.clock.to_utc(inst.t) == last.timeend:
                    found = inst
                    break
                sv.advance(self.cfg.interval)  # an earlier record of the replayed stretch
        reader.reset()
        reader.entries_read = read_before
        return found

    def _seed(self, src: Source, ctx: Context) -> None:
        cfg = self.cfg
        if is_production(cfg):
            raise cfg.error("seed_target_tables", f'"{cfg.target}" is a production target: seeding refused')
        for key in ("seed_timestart", "seed_timeend"):
            if getattr(cfg, key) is None:
                raise cfg.error(key, "is required when seed_target_tables = True")
        start, end = self.clock.to_utc(cfg.seed_timestart), self.clock.to_utc(cfg.seed_timeend)
        seqno = self.writer.write(ctx, start, end, [self.scraper.seed(src)])
        log.info("seeded %s %s with SEQNO %d [%s, %s] UTC", self.writer.t.kls, ctx, seqno, start, end)
