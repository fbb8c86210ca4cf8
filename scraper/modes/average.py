"""mode = averager: one validity record per UTC calendar bin (`bin = 1h`), from grouped SQL aggregates.

The territory — from the bin after the target's last record (or the first entry at/after timefloor) up
to the bin holding the source's latest entry, which is still open and left for the next run — is cut
into chunks of `territory` DB time. Each chunk costs ONE grouped aggregate query (GROUP BY the bin
expression of datetimebin.py; preceded by an index-only lookup of the chunk's id range, skipped
chunks without entries cost only that) and ONE target transaction holding all its bins, written with batched
inserts (DbiWriter.write_many). A chunk is therefore whole or absent, so a killed averager resumes
exactly where the target ends: no seams, no duplicates. Before the territory, each bin an older version
closed before it was over is averaged again on its own (early_bins.py).

Each bin is handed to the regime's `propagate(sv)` like a scraper PROCEED: sv[0] and sv[-1] are the
first and last aggregated entries of the bin (only `date_time` is set) and sv[-1].aggd holds the bin's
aggregates, so one regime serves both modes.
"""
from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Iterator

import sqlalchemy as sa

from scraper.sources.sql.aggregation import AggregateSpec, check_rows, ensure_sqlite_math, not_null_columns
from scraper.config import Settings
from scraper.db import dialects
from scraper.db.kinds import not_number
from scraper.core.bins import Bins, Chunk, Segment, territory
from scraper.config.keys import AGGREGATE_KEYS, Key
from scraper.modes.dbi_section import DbiSection, check_aggregates
from scraper.modes.early_bins import EarlyBins
from scraper.modes.summary import Summary
from scraper.runtime.runner import Runner, RunOptions
from scraper.targets.dbi import Context
from scraper.sources.sql.reader import SourceReader
from scraper.api import Source
from scraper.core.sourcevector import Instance

log = logging.getLogger("scraper.averager")
binlog = logging.getLogger("scraper.datetimebin")


class BinVector:
    """What propagate() sees for one bin: sv[0]/sv[-1] = first/last entry, sv[-1].aggd = aggregates."""

    state = "replay"

    def __init__(self, source: Source, first: datetime, last: datetime, aggd: dict[str, Any]):
        self.source = source
        head, tail = Instance({"date_time": first}), Instance({"date_time": last})
        tail.aggd = aggd
        self._items = [head, tail]

    def __getitem__(self, index: int) -> Instance:
        return self._items[index]

    def __len__(self) -> int:
        return 2


def _lit(n: int) -> sa.ColumnElement:
    return sa.literal_column(str(int(n)), sa.Integer)


def bin_expression(dt: sa.ColumnElement, chunk: Chunk, bins: Bins, dialect: str) -> sa.ColumnElement:
    """SQL for `Chunk.bin_of`: the UTC bin index of a naive local date_time, evaluated per row."""
    sql = dialects.impl(dialect)
    epoch = sql.epoch_seconds(dt)

    def one(seg: Segment) -> sa.ColumnElement:
        expr = sql.int_div(epoch - _lit(seg.offset_s), _lit(bins.seconds))
        if seg.floor_bin is not None:
            expr = sql.greatest(expr, _lit(seg.floor_bin))
        return expr

    segs = chunk.segments
    if len(segs) == 1:
        return one(segs[0])
    whens = [(dt < nxt.local_start, one(seg)) for seg, nxt in zip(segs, segs[1:])]
    return sa.case(*whens, else_=one(segs[-1]))


class Averager:
    """The averager mode's Job: one step per territory chunk (one grouped query, one transaction)."""

    def __init__(self, cfg: Settings, runner: Runner):
        if not cfg.aggregate:
            raise cfg.error("aggregate", "mode averager needs aggregate functions (e.g. aggregate = avg,min,max,std)")
        self.bins = checked_bins(cfg)
        self.cfg, self.runner = cfg, runner
        self.section = section = DbiSection.open(cfg, runner)
        self.clock, self.scraper, self.writer = section.clock, section.scraper, section.writer
        self.source_engine, self.readers = section.source_engine, section.readers
        runner.startup("source", ensure_sqlite_math, self.source_engine)
        self._not_null = runner.startup("target", not_null_columns, section.target_engine, self.writer.t.kls)
        self.summary = Summary(cfg.section)
        self._counting = threading.Lock()  # the readers' query counts, kept by two fetching threads
        self.summary.before_floor = sum(r.count_before(cfg.timefloor) for r in self.readers)
        # entries ahead of the wall clock never close a bin (reader.latest_time stops at the bound)
        self.future = [r.future_watch() for r in self.readers]
        self.summary.future = sum(w.poll(force=True) for w in self.future)
        self._work = self._everything()

    # --- Job (runtime/runner.py) --------------------------------------------------------------------
    def step(self) -> bool:
        return next(self._work, None) is not None

    def done(self) -> bool:
        return self._work is None

    def flush(self) -> None:
        pass  # every chunk is committed as it is written

    def idle(self) -> float:
        return 0.0

    def gauges(self) -> dict[str, float | None]:
        return {"future": sum(w.count for w in self.future)}

    def totals(self) -> dict[str, float]:
        return {"propagations": self.summary.propagations, "entries_read": self.summary.entries_read,
                "queries": sum(r.queries for r in self.readers)}

    def _everything(self):
        dialect = self.source_engine.dialect.name
        for src, reader in zip(self.section.regime.sources, self.readers):
            spec = AggregateSpec(self.cfg, AggregateSpec.of_query(reader.query), dialect)
            yield from self._average(src, reader, spec)
        self._work = None
        yield False

    def summarize(self) -> Summary:
        self.summary.queries = sum(r.queries for r in self.readers)
        self.summary.wrong = self.section.wrong()
        self.summary.caught_up = not self.runner.stopped
        return self.summary

    def close(self) -> None:
        self.section.close()

    def _context(self, src: Source) -> Context:
        return self.section.context(src)

    def _territory_start(self, ctx: Context, reader: SourceReader) -> datetime | None:
        last = self.writer.last_validity(ctx, self.clock.to_utc(self.cfg.timefloor), self.clock.to_utc(reader.bound()))
        if last is not None:
            return self.bins.start(self.bins.index(last.timeend) + 1)
        reader.queries += 1
        with self.source_engine.connect() as conn:
            first = conn.execute(sa.select(sa.func.min(reader.dt)).where(reader.dt >= self.cfg.timefloor)).scalar()
        return None if first is None else self.bins.floor(self.clock.to_utc(first))

    def _average(self, src: Source, reader: SourceReader, spec: AggregateSpec) -> Iterator[bool]:
        ctx = self._context(src)
        # bins an older version closed up to an entry dated in the future: closed at their start
        ceiling = self.clock.to_utc(reader.bound())
        self.runner.retry("target", self.section.repair_ahead, src, ctx, ceiling)
        # bins an older version closed before they were over: averaged again (early_bins.py)
        early = self.runner.retry("target", EarlyBins.find, self.writer, ctx, self.bins, ceiling,
                                  self.clock.to_utc(self.cfg.timefloor), reader.bound.tolerance)
        latest = self.runner.retry("source", reader.latest_time)
        end = None if latest is None else self.bins.floor(self.clock.to_utc(latest))  # the open bin
        if early.pending and end is not None:
            yield from self._again(src, reader, spec, early, end)
        start = self.runner.retry("source", self._territory_start, ctx, reader)
        if start is None or latest is None:
            log.info("%s %s: no source entries to average", src.label, ctx)
            return
        if end <= start:
            log.info("%s %s: no closed bin after %s UTC yet (latest entry %s local)", src.label, ctx, start, latest)
            return
        log.info("looping over territory bins of %s from %s to %s UTC performing grouped aggregate queries "
                 "in each bin", self.cfg.territory, start, end)
        aggregates = spec.select_list()  # built once: ~80 labelled expressions
        cleaned = spec.select_list(clean=True)  # for a chunk holding a value of the wrong kind (rare)
        retry = self.runner.retry
        chunks = territory(self.clock, self.bins, self.cfg.territory, start, end)
        # Three stages overlap: while this thread turns chunk k into records and writes it, the database
        # aggregates chunk k+1 and finds chunk k+2's id range, each on a connection (and thread) of its
        # own. All but the writing is server work; on two cores, the range lookups (~10 % of the grouped
        # queries' time on MariaDB, bench/) no longer wait in line with the grouped queries.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="averager-span") as spans, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="averager-fetch") as groups:
            def ahead(chunk: Chunk) -> tuple[Chunk, Future]:
                span = spans.submit(retry, "source", self._span, reader, chunk)
                return chunk, groups.submit(lambda: retry("source", self._grouped, reader, spec,
                                                          (aggregates, cleaned), chunk, span.result()))
            queued = deque(ahead(c) for c in itertools.islice(chunks, 2))
            while queued:
                chunk, fetched = queued.popleft()
                rows, resume = fetched.result()
                binlog.info(chunk.line())
                if resume is not None and resume > chunk.end:
                    for _chunk, later in queued:  # chunks of a stretch the jump skips
                        later.cancel()
                    queued.clear()
                    if resume >= end:
                        break
                    # an empty chunk, and nothing until `resume`: one query jumps an empty stretch (a
                    # 1970 row before 2011 data), not one per chunk of the 41 empty years
                    binlog.info("no source entries from %s to %s UTC", chunk.end, resume)
                    chunks = territory(self.clock, self.bins, self.cfg.territory, resume, end)
                queued.extend(ahead(c) for c in itertools.islice(chunks, 2 - len(queued)))
                self._write(src, self._records(src, spec, chunk, rows))
                yield True

    def _again(self, src: Source, reader: SourceReader, spec: AggregateSpec, early: EarlyBins,
               end: datetime) -> Iterator[bool]:
        """Each closed bin an older version wrote before it was over (early_bins.py), averaged again on
        its own (one grouped query), its early record superseded in the transaction of the new one."""
        ctx, aggregates = self._context(src), (spec.select_list(), spec.select_list(clean=True))
        for rec in early.waiting(end):
            log.info("%s %s: validity record SEQNO %d [%s, %s] UTC was written before its bin was over (an older "
                     "version): its bin is averaged again once it closes", src.label, ctx, rec.seqno,
                     rec.timestart, rec.timeend)
        for lo, hi in early.closed(end):
            for chunk in territory(self.clock, self.bins, self.cfg.bin, lo, hi):
                span = self.runner.retry("source", self._span, reader, chunk)
                rows, _resume = self.runner.retry("source", self._grouped, reader, spec, aggregates, chunk, span)
                self._write(src, self._records(src, spec, chunk, rows), early)
                yield True

    def _write(self, src: Source, records: list, early: EarlyBins | None = None) -> None:
        """A chunk's records in one transaction, superseding the early records of their bins."""
        if not records:
            return
        ctx, last = self._context(src), records[-1]
        superseded = early.superseded_by(records) if early is not None else []
        old = {rec.seqno for rec in superseded}
        self.runner.retry("target", self.writer.write_many, records, old,
                          recovered=lambda: self.section.written(*last[:3], besides=old))
        if early is not None:
            early.done(superseded, src.label, ctx)
        self.summary.propagations += len(records)
        self.summary.cover(records[0][1], records[-1][2])

    def _span(self, reader: SourceReader, chunk: Chunk) -> tuple[int, int] | datetime:
        """The chunk's id range, from the date_time index alone: bounding the grouped query by it lets
        both databases walk the table in primary-key order instead of fetching each row through the
        date_time index (1.5x faster on InnoDB; exact even if ids are not in time order). For an empty
        chunk, the bin edge (UTC) at which the next entry's bin starts, or datetime.max if none."""
        dt = reader.dt
        with self.source_engine.connect() as conn:
            self._counted(reader)
            ranged = dialects.impl(self.source_engine.dialect.name).ranged_id(reader.id)
            lo, hi = conn.execute(sa.select(sa.func.min(ranged), sa.func.max(ranged)).where(
                *self._window(dt, chunk))).one()
            if lo is not None:
                return lo, hi
            self._counted(reader)
            following = conn.execute(sa.select(sa.func.min(dt)).where(dt >= chunk.local_hi)).scalar()
        if following is None:
            return datetime.max
        return max(self.bins.floor(self.clock.to_utc(following)), chunk.end)

    def _window(self, dt: sa.ColumnElement, chunk: Chunk) -> tuple[sa.ColumnElement[bool], ...]:
        return dt >= chunk.local_lo, dt < chunk.local_hi, dt >= self.cfg.timefloor

    def _grouped(self, reader: SourceReader, spec: AggregateSpec, aggregates: tuple[list, list],
                 chunk: Chunk, span: tuple[int, int] | datetime) -> tuple[list, datetime | None]:
        """The grouped aggregates of one territory chunk within its id range (`span`): one row per
        non-empty bin. For an empty chunk, no query: no rows, and where the next entry's bin starts."""
        if isinstance(span, datetime):
            return [], span
        dt, dialect = reader.dt, self.source_engine.dialect.name
        binx = bin_expression(dt, chunk, self.bins, dialect)
        where = [*self._window(dt, chunk), reader.id >= span[0], reader.id <= span[1]]
        if spec.filter() is not None:
            where.append(spec.filter())

        def grouped(select: list) -> sa.Select:
            return (reader.query.with_only_columns(binx.label("_bin"), sa.func.min(dt).label("_first"),
                                                   sa.func.max(dt).label("_last"), *select)
                    .where(*where).group_by(binx).order_by(binx))
        with self.source_engine.connect() as conn:
            self._counted(reader)
            rows = conn.execute(grouped(aggregates[0])).mappings().all()
            if spec.suspect(rows):  # a value of the wrong kind in the chunk: its aggregates without it
                self._counted(reader)
                rows = conn.execute(grouped(aggregates[1])).mappings().all()
                self._skipped(conn, reader, where)
            return rows, None

    def _skipped(self, conn: sa.Connection, reader: SourceReader, where: list) -> None:
        """The values of the wrong kind the clean aggregates just skipped: read (only those entries) and
        judged as any entry read into Python is, so they are counted per column and logged once per
        column and spell with the entry's id, as the scraper does (db/kinds.py)."""
        dialect, cols = self.source_engine.dialect.name, reader.query.selected_columns
        terms = [t for t in (not_number(dialect, cols[reader.kinds.names[k]]) for k in reader.kinds.at)
                 if t is not None]
        if terms:
            self._counted(reader)
            found = conn.execute(reader.query.where(*where, sa.or_(*terms)).order_by(reader.id)).all()
            with self._counting:
                reader.kinds.rows([tuple(r) for r in found])

    def _counted(self, reader: SourceReader) -> None:
        """One more source query, counted from the two fetching threads."""
        with self._counting:
            reader.queries += 1

    def _records(self, src: Source, spec: AggregateSpec, chunk: Chunk, result: list) -> list:
        """One validity record per bin, its payload from the regime's propagate()."""
        cfg = self.cfg
        records, ctx = [], self._context(src)
        for row in result:
            first, last = row["_first"], row["_last"]
            start, end = self.clock.to_utc(first), self.clock.to_utc(last)
            if self.bins.index(start) != row["_bin"] or self.bins.index(end) != row["_bin"]:
                raise RuntimeError(f"bin expression disagrees with to_utc for {first}..{last} ({row['_bin']})")
            aggd = spec.aggd(row)
            sv = BinVector(src, first, last, aggd)
            rows = list(self.scraper.propagate(sv))
            if self._not_null:
                check_rows(cfg, self.writer.t.kls, self._not_null, rows, aggd, (first, last))
            records.append((ctx, start, end, rows))
            self.summary.entries_read += aggd[spec.count_key]
            self.summary.samples += 1
        binlog.debug("%s: %d non-empty bins", chunk.line(), len(records))
        return records


def checked_bins(cfg: Settings) -> Bins:
    try:
        bins = Bins(cfg.bin)
    except ValueError as exc:
        raise cfg.error("bin", str(exc)) from None
    if cfg.territory < cfg.bin or cfg.territory % cfg.bin:
        raise cfg.error("territory", f"{cfg.territory} is not a multiple of bin = {cfg.bin}")
    return bins


KEYS = [
    Key("bin", "positive_duration", timedelta(hours=1), "averager: width of the UTC-aligned calendar bins (1h, 1d)"),
    Key("territory", "positive_duration", timedelta(days=1),
        "averager: DB time covered by one grouped query and one transaction (a multiple of bin)"),
]
USES = ("target", "kls", "timefloor", "task", *AGGREGATE_KEYS, "production_names", "time_view",
        "lease_timeout")


def validate(cfg: Settings, regime) -> None:
    checked_bins(cfg)
    if not regime.scraper.aggregates:
        raise cfg.error("regime", f"{cfg.regime} propagates entries, not aggregates (its scraper declares no "
                        "`aggregates`): it cannot run as an averager; use mode = scraper")
    if not cfg.aggregate:
        raise cfg.error("aggregate", "mode averager needs aggregate functions (e.g. aggregate = avg,min,max,std)")
    check_aggregates(cfg, regime)


def run(cfg: Settings, options: RunOptions) -> Summary:
    """Average the section's sources into calendar bins: every closed bin not yet in the target."""
    runner = Runner(cfg, options)
    averager = Averager(cfg, runner)
    try:
        runner.run(averager)
        return averager.summarize()
    finally:
        averager.close()
