"""Reading one source for the bridge: the entries after a bookmark (date_time, id), in key order,
plus the entries committed late behind it.

ONE statement per round and source, compiled once (db.PreparedQuery), reads in one snapshot:
1. the next `batch` entries after the bookmark: `date_time >= t` is a range on the date_time index,
   `date_time > t OR id > i` makes it strict, so entries sharing a date_time (DCS re-inserts) are
   taken in id order and none is read twice or skipped;
2. the entries committed since the previous round (id above its highest id, a primary-key range)
   whose key lies behind the bookmark: a DCS readout committing a row after newer ones. They are
   bridged too (a time series has no order to keep), counted as `late` and logged, never lost;
3. the highest id, the next round's watermark for 2. (DCS ids are AUTO_INCREMENT: a row committed
   after this snapshot gets a higher id.)
One statement is one snapshot on every backend, so an entry is never both missed by 1. and below
the watermark of 3.

SQLite sources are text that may lack a fraction, so on SQLite the bounds are bound as text spelt to
sort right against every spelling (scraper/db/dialects.py, time_bound); the few entries at t that are
already bridged are dropped here, comparing parsed keys.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from scraper.config import Settings
from scraper.db import PreparedQuery, dialects
from scraper.sources.sql.reader import SourceReader

from .layout import Series

BATCH, LATE, TOP = 0, 1, 2  # the parts of the statement, in its `_part` column
EVERY = 2 ** 62  # "no limit" that SQLite, MariaDB and PostgreSQL accept


@dataclass
class Fetched:
    rows: list[tuple]           # the batch after the bookmark, in key order
    late: list[tuple]           # entries committed behind the bookmark since the last round
    full: bool                  # the batch was full: more entries are waiting
    top: int | None             # the highest id in the snapshot (the next watermark)


class Feed:
    """One source's bookmark (key and watermark) and its two prepared statements."""

    def __init__(self, series: Series, reader: SourceReader, engine: sa.Engine, cfg: Settings,
                 position: tuple[datetime, int, int, int | None] | None):
        self.series, self.reader = series, reader
        self.floor: datetime = cfg.timefloor
        self.batch = cfg.batch
        self.sql = dialects.impl(engine)
        dt, id_ = reader.dt, reader.id
        # the column's own type elsewhere: a timestamptz source binds its bounds as UTC instants
        # (timeforms.UtcInstant), not as naive times the session's TimeZone would place
        when = sa.String() if self.sql.text_times else dt.type
        lo, t, t_lo = (sa.bindparam(n, type_=when) for n in ("lo", "t", "t_lo"))
        floor = sa.bindparam("floor", type_=when)
        # entries dated beyond now + future_tolerance are not data yet (core/wallclock.py): the same
        # index range, closed at the top; they are bridged in their place once the clock reaches them
        fut = sa.bindparam("fut", type_=when)
        i, w = sa.bindparam("i", type_=sa.Integer), sa.bindparam("w", type_=sa.Integer)
        # MariaDB's DOUBLE and DECIMAL reflect as types that return Decimal, which sqlite3 cannot
        # store: every numeric value column is read as a float
        columns = [sa.type_coerce(c, sa.Float()).label(c.name) if isinstance(c.type, (sa.Numeric, sa.Float)) else c
                   for c in reader.query.selected_columns]
        base = reader.query.with_only_columns(*columns)
        names = [c.name for c in columns]

        def part(stmt: sa.Select, tag: int) -> sa.Select:
            sub = stmt.subquery()
            return sa.select(*(sub.c[n] for n in names), sa.literal(tag, sa.Integer).label("_part"))

        top = sa.select(*(sa.null().label(n) if n != "id" else sa.func.max(id_).label(n) for n in names),
                        sa.literal(TOP, sa.Integer).label("_part")).select_from(reader.main)
        after = base.where(dt >= lo, dt <= fut, sa.or_(dt > t, id_ > i)).order_by(dt, id_).limit(self.batch)
        # The entries new since the watermark first (a primary-key range), filtered outside: with the
        # LIMIT, SQLite does not flatten the subquery, so its planner cannot trade the id range for
        # the date_time index, which would read every entry before the bookmark each round.
        fresh = base.where(id_ > w).order_by(id_).limit(EVERY).subquery("fresh")
        fd, fi = fresh.c.date_time, fresh.c.id
        behind = (sa.select(*(fresh.c[n] for n in (c.name for c in columns)))
                  .where(fd >= floor, sa.or_(fd < t_lo, sa.and_(fd <= t, fi <= i))))
        first = base.where(dt >= lo, dt <= fut).order_by(dt, id_).limit(self.batch)
        # no ORDER BY on the UNION: the database would sort the whole batch again; fetch() sorts (once,
        # in linear time, as the batch part comes in key order)
        self.first_query = PreparedQuery(engine, sa.union_all(part(first, BATCH), top))
        self.next_query = PreparedQuery(engine, sa.union_all(part(after, BATCH), part(behind, LATE), top))
        self.names = names
        self.at_dt, self.at_id = names.index("date_time"), names.index("id")
        self.key: tuple[datetime, int] | None = position[:2] if position else None
        self.watermark: int | None = position[3] if position else None
        self.convert = series.converter(cfg.source_tz)
        self.queries = 0
        self.late = 0

    def _bound(self, t: datetime, strict: bool = False):
        return self.sql.time_bound(t, strict)

    def fetch(self) -> Fetched:
        """The round's entries (see the module docstring); the bookmark moves only when committed."""
        self.queries += 1
        fut = self._bound(self.reader.bound(), True)
        if self.key is None:
            out = self.first_query.execute({"lo": self._bound(self.floor), "fut": fut})
        else:
            t, i = self.key
            out = self.next_query.execute({"lo": self._bound(max(t, self.floor)), "fut": fut, "t": self._bound(t, True),
                                           "t_lo": self._bound(t), "i": i, "floor": self._bound(self.floor),
                                           "w": self.watermark if self.watermark is not None else -1})
        rows, late, top = [], [], None
        for r in out:
            part, r = r[-1], r[:-1]
            if part == BATCH:
                rows.append(r)
            elif part == LATE:
                late.append(r)
            else:
                top = r[self.at_id]
        rows.sort(key=lambda r: (r[self.at_dt], r[self.at_id]))  # a UNION keeps no order: restore it
        # text, blobs, NaN and ±inf in numeric columns are bridged as NULL (db/kinds.py)
        rows, late = self.reader.kinds.rows(rows), self.reader.kinds.rows(late)
        full = len(rows) >= self.batch
        key, at_dt, at_id = self.key, self.at_dt, self.at_id
        if key is not None:
            if rows and (rows[0][at_dt], rows[0][at_id]) <= key:  # spellings of t already bridged (see above)
                rows = [r for r in rows if (r[at_dt], r[at_id]) > key]
            late = [r for r in late if (r[at_dt], r[at_id]) <= key]  # text bounds admit a superset
        return Fetched(rows, late, full, top)

    def last_key(self, rows: list[tuple]) -> tuple[datetime, int]:
        last = rows[-1]
        return last[self.at_dt], last[self.at_id]

    def close(self) -> None:
        self.first_query.close()
        self.next_query.close()
