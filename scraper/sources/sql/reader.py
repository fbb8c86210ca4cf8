"""Reading source entries in (date_time, id) order, one query per batch rather than per sample.

The per-sample rule (rule 1 of a sample, docs/concepts.md: first entry with date_time >= tcursor beyond every collected entry, skipping
`offset`) is applied to an in-memory buffer holding a contiguous, ordered run of the source. Because the
buffer is exactly what the per-sample query would have returned, batched catch-up and sample-by-sample
live running select the same entries (as long as the source appends in time order; see docs).

Sources do not always append in time order: DCS readout may commit a row late, with a date_time older
than entries already read. Such a row can no longer be selected by rule 1 of a sample and is never propagated (that
would rewrite closed validity ranges). Each batch query also counts, in the same statement and hence
the same snapshot, the rows committed since the previous batch query (id above the previous highest
id) that are out of reach; they are reported as `late`, never silently lost (docs/fakers.md).
"""
from __future__ import annotations

import logging
from collections import deque
from datetime import datetime
from itertools import islice
from operator import itemgetter, lt
from typing import Any, Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from scraper import db
from scraper.db import PreparedQuery, dialects
from scraper.config import Settings
from scraper.api import Source
from scraper.core.sourcevector import Instance, entry_maker
from scraper.core.wallclock import Bound
from scraper.sources.sql.future import FutureWatch
from scraper.db.kinds import Kinds, numeric_columns

log = logging.getLogger("scraper.reader")
_MAXID, _LATE, _LATE_FIRST, _LATE_LAST = "_scraper_maxid", "_scraper_late", "_scraper_late_first", "_scraper_late_last"
# an entry row's late-check cell in a UNION with a check row (here and in the skip search): typed, as
# PostgreSQL resolves a UNION's untyped NULLs to text
NO_LATE = sa.cast(sa.null(), sa.BigInteger).label(_LATE)


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class SourceReader:
    def __init__(self, engine: Engine, source: Source, cfg: Settings, batch: int):
        self.engine, self.source, self.batch = engine, source, batch
        tables = [db.source_table(engine, source.table, cfg)]
        tables += [db.reflect(engine, name, cfg, "source") for name in source.joins]
        main = tables[0]
        for col in ("id", "date_time"):
            if col not in main.c:
                raise cfg.error("source", f'table "{main.name}" has no column "{col}"')
        for other in tables[1:]:
            if source.on not in other.c:
                raise cfg.error("source", f'joined table "{other.name}" has no column "{source.on}"')
        self.tables = tables
        selectable, columns = self.joined(tables)
        self.main = main
        self.dialect = dialects.for_engine(engine)
        self.dt, self.id = main.c.date_time, main.c.id
        self.query = sa.select(*columns).select_from(selectable)
        self.columns = [c.name for c in columns]
        # text, blobs, NaN and ±inf in numeric columns are read as NULL (kinds.py); MariaDB's numeric
        # columns hold none of them
        numeric = [] if engine.dialect.name in ("mysql", "mariadb") else numeric_columns(columns)
        self.kinds = Kinds(main.name, self.columns, numeric)
        self._makers: dict[tuple[int, ...], Callable[..., Instance]] = {}  # a batch row's Instance, by converted columns
        self.floor: datetime | None = None
        # the newest time that is data now (core/wallclock.py): a bound parameter of every statement
        # that reads entries, so an entry dated in the future waits in its place until its time comes
        self.bound = Bound.of(cfg)
        self.queries = 0
        self.entries_read = 0
        self.late = 0  # rows committed behind the reader's position (never propagated), see module doc
        self.skipped = 0  # entries judged unchanged by the database (skipping.py), not in entries_read
        self._watermark: int | None = None  # highest id seen by the previous batch query
        self._buf: deque[Instance] = deque()
        self._batches: dict[tuple[str, bool, int], PreparedQuery] = {}
        # wraps each batch query (the engine installs its outage retrier): only queries can fail, and
        # wrapping them rather than every buffered sample keeps catch-up's per-sample cost low
        self.guard: Callable[..., Any] = _call

    def joined(self, tables: list[sa.Table]) -> tuple[sa.FromClause, list[sa.ColumnElement]]:
        """The source's FROM (main table joined with the others on `on`) and its columns, joined-table
        columns labelled uniquely. Also built from aliases, where a statement needs the source twice."""
        main, on = tables[0], self.source.on
        selectable: sa.FromClause = main
        columns: list[sa.ColumnElement] = list(main.c)
        seen = set(main.c.keys())
        for other in tables[1:]:
            selectable = selectable.join(other, main.c[on] == other.c[on])
            for col in other.c:
                if col.name in ("id", "date_time", on):
                    continue
                label = col.name if col.name not in seen else f"{other.name}_{col.name}"
                seen.add(label)
                columns.append(col.label(label))
        return selectable, columns

    def run(self, stmt) -> list[Instance]:
        """One statement through the pool (rare ones: start-up, checks), counted and retried through
        outages as a source read (a resume reads the source inside a target step: its outage is the
        source's, and says so)."""
        self.queries += 1
        clean = self.kinds.instance
        return [clean(Instance(r)) for r in self.guard(self._all, stmt)]

    def _all(self, stmt) -> list:
        with self.engine.connect() as conn:
            return conn.execute(stmt).mappings().all()

    def _one(self, stmt) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(stmt).one()

    def execute(self, stmt: PreparedQuery, params: dict[str, Any]) -> list[tuple]:
        """One prepared statement (the skip search's), counted and retried through outages."""
        self.queries += 1
        return self.guard(stmt.execute, params)

    def judged_in_sql(self, entries: int, queries: int = 0) -> None:
        """Entries the database judged unchanged (never read into Python), counted by the skip search."""
        self.skipped += entries
        self.queries += queries

    def after(self, tcursor: datetime, after: tuple[datetime, int] | None) -> sa.ColumnElement[bool]:
        """SQL for 'date_time >= tcursor and (date_time, id) > after', simplified where one implies the other.

        Sargable: `date_time >= t AND NOT (date_time = t AND id <= i)` is one index range from t on.
        The obvious `date_time > t OR (date_time = t AND id > i)` is an OR the planners (SQLite's at
        least) answer with a scan of the whole date_time index: a cost per entry that grew with the table."""
        if after is None or tcursor > after[0]:
            return self.dt >= tcursor
        t, i = after
        # the id first inside NOT(...): false for nearly every entry of the range, it spares the time
        # comparisons (text on SQLite, two each) on all but the few entries at t
        return sa.and_(self.dt >= t, sa.not_(sa.and_(self.id <= i, self.dt == t)))

    def next_entry(self, tcursor: datetime, after: tuple[datetime, int] | None, offset: int) -> Instance | None:
        """The entry rule 1 of a sample selects, or None when the source has nothing beyond the cursor yet."""
        if self.floor is not None and tcursor < self.floor:
            tcursor = self.floor
        buf = self._buf
        while buf:  # drop what lies before the cursor (the per-entry hot path: plain item access)
            head = buf[0]
            t = head["date_time"]
            if t < tcursor or (after is not None and (t, head["id"]) <= after):
                buf.popleft()
            else:
                break
        if len(buf) <= offset:
            buf = self._buf = deque(self.guard(self._fetch, tcursor, after, max(self.batch, offset + 1)))
            if len(buf) <= offset:
                return None
        for _ in range(offset):
            buf.popleft()
        self.entries_read += 1
        return buf.popleft()

    def _batch_key(self, tcursor: datetime, after: tuple[datetime, int] | None,
                   limit: int) -> tuple[tuple[str, bool, int], dict[str, Any]]:
        """Which of the few batch statements (cursor form, with a watermark or not, limit), and its values."""
        if after is None or tcursor > after[0]:
            form, params = "from", {"_tc": tcursor}
        else:
            form, params = "beyond", {"_t": after[0], "_i": after[1]}
        if self._watermark is not None:
            params["_wm"] = self._watermark
        params["_fut"] = self.bound()
        return (form, self._watermark is not None, limit), params

    def _batch_select(self, key: tuple[str, bool, int]) -> sa.CompoundSelect:
        """The batch rows, then the late check's one row (the id column holding the highest id, `_late`
        the count; NULL in every batch row): UNION ALL, one statement and hence one snapshot. A LEFT
        JOIN of the two made SQLite materialize the batch and sort it again (~1 us an entry read)."""
        form, with_watermark, limit = key
        dt, id_ = self.dt, self.id
        if form == "from":
            reach = dt >= sa.bindparam("_tc", type_=dt.type)
        else:  # the sargable form of after()
            t = sa.bindparam("_t", type_=dt.type)
            reach = sa.and_(dt >= t, sa.not_(sa.and_(id_ <= sa.bindparam("_i", type_=id_.type), dt == t)))
        # not yet data beyond _fut: a bound of the same index range, not part of `reach` (a row beyond
        # it is not late, it is early: the late check must not count it)
        batch = (self.query.add_columns(NO_LATE).where(reach, dt <= sa.bindparam("_fut", type_=dt.type))
                 .order_by(dt, id_).limit(limit))
        watermark = sa.bindparam("_wm", type_=id_.type) if with_watermark else None
        maxid, late, _first, _last = self._check_terms(reach)
        cells = [maxid if name == "id" else sa.null() for name in self.columns]
        if watermark is None:  # the first query of this process only sets the watermark
            check = sa.select(*cells, sa.literal(0, sa.BigInteger).label(_LATE))
        else:
            check = sa.select(*cells, sa.func.coalesce(late, 0).label(_LATE)).where(id_ > watermark)
        return sa.union_all(self.dialect.compound_part(batch), check)

    def batch_statement(self, tcursor: datetime, after: tuple[datetime, int] | None, limit: int) -> sa.CompoundSelect:
        """The batch query with its late check: one statement, so the check and the batch see the same
        snapshot and a row is never both read and counted late, nor counted twice."""
        key, params = self._batch_key(tcursor, after, limit)
        return self._batch_select(key).params(**params)

    def _fetch(self, tcursor: datetime, after: tuple[datetime, int] | None, limit: int) -> list[Instance]:
        """Run the batch query: compiled once per form (db.PreparedQuery), rows straight from the DBAPI
        cursor, only the columns that need it converted (SQLite's DATETIME text), a column at a time:
        the per-entry cost of reading every entry into Python is mostly here (bench/)."""
        key, params = self._batch_key(tcursor, after, limit)
        prepared = self._batches.get(key)
        if prepared is None:
            prepared = self._batches[key] = PreparedQuery(self.engine, self._batch_select(key))
        self.queries += 1
        rows = list(prepared.execute_raw(params))  # PyMySQL: a tuple
        width = len(self.columns)
        check = rows.pop(-1 if rows[-1][width] is not None else  # where SQLite puts it: last
                         next(k for k, row in enumerate(rows) if row[width] is not None))
        maxid, late = check[self.columns.index("id")], check[width]
        if late:  # the times of the late rows, for the log line: a query of its own, rarely
            first, last = self.late_range(self._reach(key, params), params["_wm"], maxid)
        else:
            first = last = None
        self.note_check(maxid, late, first, last, after[0] if after else tcursor)
        if not rows:
            return []
        rows = self.kinds.rows(rows)
        indices, converted = prepared.converted(rows)
        rows, converted = self._ordered(rows, indices, converted)
        make = self._makers.get(tuple(indices))
        if make is None:
            make = self._makers[tuple(indices)] = entry_maker(self.columns, indices)
        return list(map(make, rows, *converted))

    def _ordered(self, rows: list[tuple], indices: list[int],
                 converted: list[Sequence[Any]]) -> tuple[list[tuple], list[Sequence[Any]]]:
        """The batch rows in (date_time, id) order: a UNION's order is the planner's. Checked on the
        times as Python values (a text column may spell them several ways), and in one C-level pass
        where they strictly increase, as they nearly always do; the full key only where some tie."""
        at_dt, at_id = self.columns.index("date_time"), self.columns.index("id")
        dts = converted[indices.index(at_dt)] if at_dt in indices else list(map(itemgetter(at_dt), rows))
        if all(map(lt, dts, islice(dts, 1, None))):
            return rows, converted
        keys = list(zip(dts, map(itemgetter(at_id), rows)))
        if all(map(lt, keys, islice(keys, 1, None))):
            return rows, converted
        order = sorted(range(len(rows)), key=keys.__getitem__)
        return [rows[k] for k in order], [[column[k] for k in order] for column in converted]

    def _reach(self, key: tuple[str, bool, int], params: dict[str, Any]) -> sa.ColumnElement[bool]:
        form = key[0]
        return self.after(params["_tc"], None) if form == "from" else self.after(params["_t"], (params["_t"], params["_i"]))

    def late_range(self, reachable: sa.ColumnElement[bool], watermark: int, maxid: int) -> tuple[Any, Any]:
        """First and last date_time of the rows a late check counted (for its log line only): the rows
        above the old watermark, up to the check's highest id, out of reach."""
        check = self.late_check(reachable, sa.literal(watermark)).where(self.id <= maxid)
        (row,) = self.run(check)
        _maxid, _late, first, last = row.values()
        return first, last

    def close(self) -> None:
        """Close the batch statements' connections (what the pool does not own)."""
        for prepared in self._batches.values():
            prepared.close()
        self._batches = {}

    def _check_terms(self, reachable: sa.ColumnElement[bool]) -> tuple[sa.ColumnElement, ...]:
        """The highest id, and how many rows lie out of reach (not `reachable`, at or after timefloor),
        with their first and last date_time: the late check's aggregates over the rows it looks at."""
        unreachable = sa.not_(reachable)
        if self.floor is not None:
            unreachable = sa.and_(unreachable, self.dt >= self.floor)
        return (sa.func.max(self.id), sa.func.sum(sa.case((unreachable, 1), else_=0)),
                sa.func.min(sa.case((unreachable, self.dt))), sa.func.max(sa.case((unreachable, self.dt))))

    def late_check(self, reachable: sa.ColumnElement[bool], watermark: sa.ColumnElement | None) -> sa.Select:
        """One row: the highest id, and how many rows committed since the previous query (id above
        `watermark`) lie out of reach, with their first and last date_time. Without a watermark (the
        first query of this process) it only sets one."""
        maxid, late, first, last = self._check_terms(reachable)
        if watermark is None:
            none = sa.null()
            return sa.select(maxid.label(_MAXID), none.label(_LATE), none.label(_LATE_FIRST), none.label(_LATE_LAST))
        return sa.select(maxid.label(_MAXID), late.label(_LATE), first.label(_LATE_FIRST),
                         last.label(_LATE_LAST)).where(self.id > watermark)  # a primary-key range: only rows new since

    def note_check(self, maxid: int | None, late: Any, first: Any, last: Any, position: datetime) -> None:
        """The late check's result: move the watermark, count and report rows committed late."""
        if maxid is not None:
            self._watermark = maxid
        if late:
            self.late += int(late)  # MariaDB's SUM is a DECIMAL
            log.warning("%s: %d entries committed late behind the cursor %s (date_time %s .. %s) "
                        "will not be propagated; %d late so far", self.main.name, late,
                        position, first, last, self.late)

    def entry_at(self, times: list[datetime]) -> Instance | None:
        """The entry a bookmark points at: earliest (date_time, id) among the candidate local times."""
        found = self.entries_at(times, 1)
        return found[0] if found else None

    def entries_at(self, times: list[datetime], limit: int) -> list[Instance]:
        """Up to `limit` entries at the candidate local times, in (date_time, id) order."""
        if not times:
            return []
        return self.run(self.query.where(self.dt.in_(times)).order_by(self.dt, self.id).limit(limit))

    def count_before(self, floor: datetime) -> int:
        """Entries before timefloor or with no time at all (MariaDB zero dates, 1970 rows a DCS wrote
        while its clock was unset, NULLs): never read, never propagated; counted once, for the summary.
        Index ranges, so it costs what those rows do, not the table: with an OR of the two, SQLite
        scanned the whole index at every start (~1 us an entry), as it does for IS NULL on a NOT NULL
        column."""
        self.queries += 1
        conds = [self.dt < floor] + ([self.dt.is_(None)] if self.dt.nullable else [])
        counts = [sa.select(sa.func.count()).select_from(self.main).where(c).scalar_subquery() for c in conds]
        return int(self.guard(self._one, sa.select(sum(counts[1:], counts[0])))[0] or 0)

    def future_watch(self, every: float = 10.0) -> FutureWatch:
        """What lies beyond the wall-clock bound in the main table: counted, logged once (future.py)."""
        return FutureWatch(self.engine, self.main.name, self.dt, self.id, self.bound, every,
                           lambda fn, *args: self.guard(fn, *args))

    def latest_time(self) -> datetime | None:
        """The newest entry that is data now (not beyond the wall-clock bound)."""
        self.queries += 1
        return self.guard(self._one, sa.select(sa.func.max(self.dt)).where(self.dt <= self.bound()))[0]

    def span(self, tcursor: datetime) -> tuple[datetime | None, datetime | None]:
        """(first entry at/after `tcursor`, latest entry) in one query: where an empty source vector
        will start reading (its cursor may be `timefloor`, years before the source begins), and how
        far the source goes."""
        self.queries += 1
        # two index seeks: min(CASE ...) in one SELECT read the whole index, at every start (~0.4 s a
        # million entries)
        bound = self.bound()
        first = sa.select(sa.func.min(self.dt)).where(self.dt >= tcursor, self.dt <= bound).scalar_subquery()
        # typed as the column is (unlike min(CASE ...)): read as datetimes by its own result processor
        latest = sa.select(sa.func.max(self.dt)).where(self.dt <= bound).scalar_subquery()
        row = self.guard(self._one, sa.select(first, latest))
        return row[0], row[1]

    @property
    def entries(self) -> int:
        """Entries sampled so far: read into Python, or judged in the database (counted in arrears)."""
        return self.entries_read + self.skipped

    def ahead(self) -> "deque[Instance]":
        """The entries read ahead, in order: with offset 0 and a cursor inside the stretch they cover,
        exactly the next ones next_entry() would return. Whoever takes some from the left reports how
        many with took()."""
        return self._buf

    def took(self, n: int) -> None:
        self.entries_read += n

    @property
    def buffered(self) -> bool:
        """Entries read ahead by the last batch query and not yet sampled."""
        return bool(self._buf)

    @property
    def watermark(self) -> int | None:
        """Highest id seen by the last late check: rows above it were committed since."""
        return self._watermark

    def reset(self) -> None:
        self._buf.clear()

    def bookmark(self) -> tuple[int, int, int | None]:
        """(entries read, late rows, watermark): what restore() returns to when the engine resumes from
        its last commit (the scraper loop's redo after a disordered stretch)."""
        return self.entries_read, self.late, self._watermark

    def restore(self, bookmark: tuple[int, int, int | None], skipped: int) -> None:
        self.entries_read, self.late, self._watermark = bookmark
        self.skipped = skipped
        self.reset()
