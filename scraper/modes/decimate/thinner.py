"""One decimator pass: re-thin slices that received late entries, then thin up to the horizon.

Thinning proceeds in chunks of whole slices holding about `batch` entries each. A chunk's changes are
ONE transaction: every entry of the chunk but its keepers deleted, its rollup rows written and the
cursor advanced to the chunk's end. So the table, its rollup and its
cursor always agree, and a process killed anywhere redoes at most the one chunk it was in. A chunk
is bounded, so a 10 Hz writer appending meanwhile waits at most one chunk's transaction (SQLite) or
not at all (InnoDB locks only the rows deleted, all older than the horizon).

The chunk is read outside the write transaction (so that on SQLite the lock is held only for the
DELETE and two small writes); an entry committed into the chunk between the read and the DELETE
makes the DELETE's row count differ from the one read, and the chunk is rolled back and redone, so a
late entry is never deleted unseen (on MariaDB the DELETE is bounded by the chunk's id range as read;
an entry beyond it is left for the next pass, which finds it above the watermark).

Late entries: rows whose id is above the watermark (the highest id when the previous pass began) and
whose time lies behind the cursor were committed after their slice was thinned. Each such slice is
thinned again under the same rule (rethin.py).
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from scraper import db
from scraper.core.bins import Chunk
from scraper.core.wallclock import Bound
from scraper.db.kinds import spell
from scraper.targets.dbi import utcnow

from .rethin import Rethinner
from .slices import Slicing
from .statements import KEEPER_LIST_MAX, SLICE, Statements
from .tables import CURSOR_TABLE, Cursor, TableSpec, cursor_table, read_cursor, write_cursor

log = logging.getLogger("scraper.decimator")
RACE_RETRIES = 20


def _suspect(groups) -> bool:
    """A rollup's plain min or max that is no finite number: the slice holds a value of the wrong kind."""
    return any(spell(v) is not None for g in groups for k, v in g.items() if k.endswith(("_min", "_max")))


class Raced(Exception):
    """An entry was committed into the chunk while it was being thinned: roll back, redo."""


@dataclass
class Tally:
    kept: int = 0
    deleted: int = 0


@dataclass
class PassTotals:
    """Cumulative counts of a run (all passes): the summary and the metrics read them."""

    deleted: int = 0
    kept: int = 0
    late: int = 0
    slices: int = 0
    rollup_rows: int = 0
    passes: int = 0
    cursor: datetime | None = None
    horizon: datetime | None = None
    per_group: dict = field(default_factory=lambda: defaultdict(Tally))


class Thinner:
    def __init__(self, engines: tuple[Engine, Engine], spec: TableSpec, slicing: Slicing, keep_rule: str,
                 batch: int, rollup: sa.Table | None, retrier, dry_run: bool = False, bound: Bound | None = None,
                 floor: datetime | None = None):
        """`retrier`: anything with `.call(which, fn, *args, recovered=...)` (the runner's retries);
        `bound`: the wall clock's bound on the data (core/wallclock.py); `floor`: timefloor (entries
        before it or without a time are never thinned, nor move the start of thinning)."""
        self.bound = bound or Bound(slicing.clock.tzname, timedelta(minutes=5))
        self.reader, self.writer = engines
        self.spec, self.slicing, self.keep_rule, self.batch = spec, slicing, keep_rule, batch
        self.rollup, self.retrier, self.dry_run = rollup, retrier, dry_run
        self.st = Statements(spec, slicing, keep_rule, self.writer.dialect.name, floor)
        self.cursors = cursor_table()
        self.again = Rethinner(self.writer, spec, slicing, keep_rule, rollup, self.st, self.cursors)
        self.totals = PassTotals()
        self.every_s = int(slicing.every.total_seconds())
        self.keep_s = int(slicing.keep.total_seconds())
        self._dry_cursor: Cursor | None = None  # a dry run's pretend cursor (nothing is written)

    # --- reading ----------------------------------------------------------------------------------
    def cursor(self) -> Cursor | None:
        if self.dry_run and self._dry_cursor is not None:
            return self._dry_cursor
        if self.dry_run and not db.table_exists(self.reader, CURSOR_TABLE):
            return None  # a dry run creates nothing, not even the cursor table
        with self.reader.connect() as conn:
            return read_cursor(conn, self.cursors, self.spec.name)

    def _span(self) -> tuple[datetime | None, datetime | None, int | None]:
        with self.reader.connect() as conn:
            return tuple(conn.execute(stmt).scalar() for stmt in self.st.span(self.bound()))

    def unplaced(self) -> int:
        """Entries no slice can place (before timefloor, zero dates, 1970 rows, NULL times): left alone."""
        def count() -> int:
            with self.reader.connect() as conn:
                return sum(int(conn.execute(stmt).scalar() or 0) for stmt in self.st.before_floor())
        return self.retrier.call("source", count)

    def _chunk_end(self, start: datetime, horizon: datetime) -> datetime:
        """The slice boundary after about `batch` entries from `start` (at least one slice)."""
        with self.reader.connect() as conn:
            nth = conn.execute(self.st.nth_time(self.slicing.window(start, start).local_lo, self.batch)).scalar()
        end = horizon if nth is None else min(self.slicing.floor(nth), horizon)
        return max(end, start + self.slicing.every)

    # --- one pass, one chunk at a time -----------------------------------------------------------
    def begin_pass(self) -> tuple[datetime, datetime, int] | None:
        """Late slices first (their rows are few); then (start, horizon, watermark) of the closed
        slices still to thin, or None when there are none."""
        oldest, newest, top = self.retrier.call("source", self._span)
        self.totals.passes += 1
        if newest is None:
            log.info("%s is empty: nothing to thin", self.spec.name)
            return None
        now = self.bound.now()
        horizon = self.slicing.horizon(newest, now)
        cursor = self.retrier.call("source", self.cursor)
        if cursor is not None and cursor.until > self.slicing.clock.to_utc(now):
            cursor = self._repair(cursor, min(self.slicing.floor(oldest), horizon))
        self.totals.horizon = horizon
        if cursor is not None:
            self.totals.cursor = cursor.until
            self._late(cursor, top)
        start = cursor.until if cursor is not None else self.slicing.floor(oldest)
        if start >= horizon:
            if cursor is not None and top > cursor.watermark and not self.dry_run:
                self.retrier.call("source", self._advance_watermark, top)
            return None
        log.info("thinning %s: %d slices from %s to %s UTC (horizon), batch %d", self.spec.name,
                 self.slicing.slices(start, horizon), f"{start:%Y-%m-%d %H:%M:%S}",
                 f"{horizon:%Y-%m-%d %H:%M:%S}", self.batch)
        return start, horizon, top

    def _repair(self, cursor: Cursor, start: datetime) -> Cursor:
        """A cursor ahead of the wall clock, left by a version that let an entry dated in the future set
        the horizon: every entry since would count as late and be thinned young. Where thinning really
        ended is unknown, so it is set back to the table's first slice (`start`): a thinned slice keeps
        its keeper under the same rule and its rollup rows are merged into, never doubled, so thinning
        it again loses nothing and costs what the thinned table holds."""
        repaired = Cursor(start, cursor.watermark, cursor.every_s, cursor.keep_rule)
        log.warning("%s: %s says thinned until %s UTC, ahead of the clock (an entry dated in the future "
                    "moved it): set back to %s UTC, the first slice, and thinned again from there",
                    self.spec.name, CURSOR_TABLE, f"{cursor.until:%Y-%m-%d %H:%M:%S}", f"{start:%Y-%m-%d %H:%M:%S}")
        if self.dry_run:
            self._dry_cursor = repaired
        else:
            def write() -> None:
                with self.writer.begin() as conn:
                    write_cursor(conn, self.cursors, self.spec.name, repaired, utcnow())
            self.retrier.call("source", write)
        return repaired

    def next_chunk(self, a: datetime, horizon: datetime, top: int) -> datetime:
        """Thin (or, dry, count) the chunk starting at `a`; returns where the next one starts."""
        b = self.retrier.call("source", self._chunk_end, a, horizon)
        chunk = self.slicing.window(a, b)
        if self.dry_run:
            self.retrier.call("source", self._count, chunk)
            self._dry_cursor = Cursor(b, top, self.every_s, self.keep_rule, self.keep_s)
        else:
            self.retrier.call("source", self._thin, chunk, top, recovered=lambda: self._done_to(b))
        self.totals.cursor = b
        self.totals.slices += self.slicing.slices(a, b)
        return b

    def _done_to(self, end: datetime) -> bool:
        cur = self.cursor()
        return cur is not None and cur.until >= end

    # --- thinning a chunk -------------------------------------------------------------------------
    def _thin(self, chunk: Chunk, watermark: int) -> None:
        """Read the chunk (a snapshot: a writer may append meanwhile), then in ONE short write
        transaction delete, check the count, write the rollup and advance the cursor. The write lock
        is held only for the DELETE and two small writes, so on SQLite a 10 Hz writer finds the table
        free most of the time."""
        if self.rollup is not None and self._rolled_up(chunk):
            # slices thinned before (a cursor set back or dropped by hand): re-thinned in Python, merged
            # into their rollup rows, never a second row
            self._rethin(chunk, Cursor(chunk.end, watermark, self.every_s, self.keep_rule))
            return
        for _ in range(RACE_RETRIES):
            with self.reader.connect() as conn:
                ids = self._id_range(conn, chunk)
                groups = conn.execute(self.st.summary(chunk, self.rollup is not None, ids)).mappings().all()
                if self.rollup is not None and _suspect(groups):  # a value of the wrong kind: rolled up without
                    groups = conn.execute(self.st.summary(chunk, True, ids, clean=True)).mappings().all()
                kept = self._keepers(conn, chunk, groups) if groups else {}
            try:
                with self.writer.begin() as conn:
                    done = read_cursor(conn, self.cursors, self.spec.name)
                    if done is not None and done.until >= chunk.end:
                        return  # a retry after a COMMIT whose acknowledgement was lost
                    rolled = self._write(conn, chunk, groups, kept, ids)
                    write_cursor(conn, self.cursors, self.spec.name,
                                 Cursor(chunk.end, watermark, self.every_s, self.keep_rule, self.keep_s), utcnow())
                self._add(self._tally(groups))  # counted once committed: a failed COMMIT counts nothing
                self.totals.rollup_rows += rolled
                return
            except Raced:
                log.info("entries committed into %s while thinning it: redoing the chunk", chunk.line())
        raise RuntimeError(f"{self.spec.name}: {chunk.line()} kept changing under {RACE_RETRIES} attempts")

    def _rolled_up(self, chunk: Chunk) -> bool:
        r = self.rollup
        with self.reader.connect() as conn:
            return conn.execute(sa.select(r.c.slice_utc).where(r.c.slice_utc >= chunk.start,
                                                               r.c.slice_utc < chunk.end).limit(1)).first() is not None

    def _id_range(self, conn: Connection, chunk: Chunk) -> tuple[int, int] | None:
        if not self.st.sql.id_range_bounds:
            return None  # no gain there (dialects.py), one query less
        return tuple(conn.execute(self.st.id_range(chunk)).one())

    def _write(self, conn: Connection, chunk: Chunk, groups, kept: dict, ids: tuple[int, int] | None) -> int:
        """Delete all but the keepers; a count other than the snapshot's means entries were committed
        into the chunk since it was read (late ones): Raced, so they are never deleted unseen. Returns
        the rollup rows written, for the caller to count once the transaction has committed."""
        expected = sum(g["count"] for g in groups) - len(groups)
        # An entry committed into the chunk since the read with an id beyond the range read is left
        # alone here: its id is above this pass's watermark, so the next pass thins it as late.
        deleted = sum(conn.execute(self.st.delete(window, keep, ids)).rowcount
                      for window, keep in self._runs(chunk, kept))
        if deleted != expected:
            raise Raced()
        if self.rollup is not None and groups:
            rows = [self._rollup_row(g, kept[(g[SLICE], g.get("g"))]) for g in groups]
            conn.execute(self.rollup.insert(), rows)
            return len(rows)
        return 0

    def _runs(self, chunk: Chunk, kept: dict) -> list[tuple[Chunk, list[int]]]:
        """The chunk cut into runs of whole slices with at most KEEPER_LIST_MAX keepers each (one run
        for dense data; sparse, already thin data packs many slices into a chunk)."""
        by_slice: dict = defaultdict(list)
        for (index, _g), id_ in kept.items():
            by_slice[index].append(id_)
        runs, ids, a = [], [], chunk.start
        for index in sorted(by_slice):
            if ids and len(ids) + len(by_slice[index]) > KEEPER_LIST_MAX:
                b = self.slicing.start(index)
                runs.append((self.slicing.window(a, b), ids))
                a, ids = b, []
            ids += by_slice[index]
        runs.append((self.slicing.window(a, chunk.end) if runs else chunk, ids))
        return runs

    def _keepers(self, conn: Connection, chunk: Chunk, groups) -> dict:
        """(slice, group) -> id of its keeper: the lowest (first) or highest (last) id at its edge time."""
        pick = min if self.keep_rule == "first" else max
        edges = sorted({g["edge"] for g in groups})
        at: dict = {}
        for i in range(0, len(edges), 500):
            for r in conn.execute(self.st.at_edges(chunk, edges[i:i + 500])).mappings():
                key = (r["edge"], r.get("g"))
                at[key] = pick(at.get(key, r["id"]), r["id"])
        return {(g[SLICE], g.get("g")): at[(g["edge"], g.get("g"))] for g in groups}

    def _rollup_row(self, agg, kept_id: int) -> dict:
        row = {k: v for k, v in agg.items() if k not in (SLICE, "g", "edge")}
        row["slice_utc"] = self.slicing.start(agg[SLICE])
        if self.spec.group is not None:
            row[self.spec.group.name] = agg["g"]
        row["kept_id"] = kept_id
        return {k: float(v) if k.endswith(("_avg", "_min", "_max")) and v is not None else v
                for k, v in row.items()}

    def _tally(self, groups) -> dict:
        out: dict = defaultdict(Tally)
        for g in groups:
            t = out[g.get("g")]
            t.kept += 1
            t.deleted += g["count"] - 1
        return out

    def _add(self, tally: dict) -> None:
        for g, t in tally.items():
            mine = self.totals.per_group[g]
            mine.kept += t.kept
            mine.deleted += t.deleted
            self.totals.kept += t.kept
            self.totals.deleted += t.deleted

    def _count(self, chunk: Chunk) -> None:
        """Dry run: what thinning the chunk would keep and delete, per group; nothing is written."""
        with self.reader.connect() as conn:
            groups = conn.execute(self.st.summary(chunk, False)).mappings().all()
        self._add(self._tally(groups))

    # --- late entries -----------------------------------------------------------------------------
    def _late(self, cursor: Cursor, top: int | None) -> None:
        if top is None or top <= cursor.watermark:
            return
        local_until = self.slicing.window(cursor.until, cursor.until).local_lo

        def find() -> list:
            with self.reader.connect() as conn:
                return conn.execute(self.st.late(cursor.watermark, top, local_until)).all()
        late = self.retrier.call("source", find)
        if not late:
            return
        slices = sorted({self.slicing.index(self.slicing.floor(t)) for _, t in late})
        self.totals.late += len(late)
        log.warning("%s: %d entries committed late behind the cursor %s UTC (ids %d..%d) in %d slice(s): "
                    "thinning them again", self.spec.name, len(late), f"{cursor.until:%Y-%m-%d %H:%M:%S}",
                    min(i for i, _ in late), max(i for i, _ in late), len(slices))
        for index in slices:
            chunk = self.slicing.window(self.slicing.start(index), self.slicing.start(index + 1))
            if self.dry_run:
                self._count(chunk)
            else:
                self.retrier.call("source", self._rethin, chunk)
        if not self.dry_run:
            self.retrier.call("source", self._advance_watermark, top)

    def _advance_watermark(self, top: int) -> None:
        with self.writer.begin() as conn:
            cur = read_cursor(conn, self.cursors, self.spec.name)
            if cur is not None and top > cur.watermark:
                write_cursor(conn, self.cursors, self.spec.name,
                             Cursor(cur.until, top, cur.every_s, cur.keep_rule, cur.keep_s), utcnow())

    def _rethin(self, chunk: Chunk, cursor: Cursor | None = None) -> None:
        """Thin slices again in Python (rethin.py); counted once committed."""
        deleted, merged = self.again.slices(chunk, cursor)
        for g, n in deleted.items():
            self.totals.per_group[g].deleted += n
            self.totals.deleted += n
        self.totals.rollup_rows += merged
