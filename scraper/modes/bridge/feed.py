"""Reading one source for the bridge: the entries after a bookmark (date_time, id), in key order.

One keyset statement per round and source, compiled once (db.PreparedQuery): `date_time >= t` is a
range on the date_time index, `date_time > t OR id > i` makes it strict, so entries sharing a
date_time (DCS re-inserts) are taken in id order and none is read twice or skipped.

SQLite sources are text, written by DCS software as `2011-02-01 00:02:10` (often without a fraction),
while SQLAlchemy binds `2011-02-01 00:02:10.000000`; as text the former sorts BEFORE the latter, so a
bound datetime would miss the entry at exactly t. The bounds are therefore bound as text: the shortest
spelling of t as the inclusive lower bound (it sorts before every spelling of t), the longest as the
strict one; the few entries at t that are already bridged are dropped here, comparing parsed keys.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from scraper.config import Settings
from scraper.db import DateTime, PreparedQuery
from scraper.sources.sql.reader import SourceReader

from .layout import Series


def shortest(t: datetime) -> str:
    text = t.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{t.microsecond:06d}".rstrip("0") if t.microsecond else text


def longest(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")


class Feed:
    """One source's bookmark and its two prepared statements (from timefloor; after the bookmark)."""

    def __init__(self, series: Series, reader: SourceReader, engine: sa.Engine, cfg: Settings,
                 position: tuple[datetime, int, int] | None):
        self.series, self.reader = series, reader
        self.floor: datetime = cfg.timefloor
        self.batch = cfg.batch
        self.text_times = engine.dialect.name == "sqlite"
        dt, id_ = reader.dt, reader.id
        when = sa.String() if self.text_times else DateTime
        lo, t = sa.bindparam("lo", type_=when), sa.bindparam("t", type_=when)
        i = sa.bindparam("i", type_=sa.Integer)
        # MariaDB's DOUBLE and DECIMAL reflect as types that return Decimal, which sqlite3 cannot
        # store: every numeric value column is read as a float
        columns = [sa.type_coerce(c, sa.Float()).label(c.name) if isinstance(c.type, (sa.Numeric, sa.Float)) else c
                   for c in reader.query.selected_columns]
        ordered = reader.query.with_only_columns(*columns).order_by(dt, id_).limit(self.batch)
        self.first_query = PreparedQuery(engine, ordered.where(dt >= lo))
        self.next_query = PreparedQuery(engine, ordered.where(dt >= lo, sa.or_(dt > t, id_ > i)))
        names = series.source_columns
        self.at_dt, self.at_id = names.index("date_time"), names.index("id")
        self.key: tuple[datetime, int] | None = position[:2] if position else None
        self.convert = series.converter(cfg.source_tz)
        self.queries = 0

    def _bound(self, t: datetime, strict: bool = False):
        if not self.text_times:
            return t
        return longest(t) if strict else shortest(t)

    def fetch(self) -> tuple[list[tuple], bool]:
        """(entries after the bookmark, whether the statement returned a full batch: more are waiting)."""
        self.queries += 1
        if self.key is None:
            rows = self.first_query.execute({"lo": self._bound(self.floor)})
            return rows, len(rows) >= self.batch
        t, i = self.key
        rows = self.next_query.execute({"lo": self._bound(max(t, self.floor)), "t": self._bound(t, True), "i": i})
        full = len(rows) >= self.batch
        at_dt, at_id, key = self.at_dt, self.at_id, self.key
        if rows and (rows[0][at_dt], rows[0][at_id]) <= key:  # spellings of t already bridged (see above)
            rows = [r for r in rows if (r[at_dt], r[at_id]) > key]
        return rows, full

    def last_key(self, rows: list[tuple]) -> tuple[datetime, int]:
        last = rows[-1]
        return last[self.at_dt], last[self.at_id]

    def close(self) -> None:
        self.first_query.close()
        self.next_query.close()
