"""Reading source entries in (date_time, id) order, one query per batch rather than per sample.

The per-sample rule (§4.1: first entry with date_time >= tcursor beyond every collected entry, skipping
`offset`) is applied to an in-memory buffer holding a contiguous, ordered run of the source. Because the
buffer is exactly what the per-sample query would have returned, batched catch-up and sample-by-sample
live running select the same entries (as long as the source appends in time order; see docs).
"""
from __future__ import annotations

from collections import deque
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import db
from .config import Settings
from .regime import Source
from .sourcevector import Instance


class SourceReader:
    def __init__(self, engine: Engine, source: Source, cfg: Settings, batch: int):
        self.engine, self.source, self.batch = engine, source, batch
        tables = [db.reflect(engine, name, cfg, "source") for name in (source.table, *source.joins)]
        main = tables[0]
        for col in ("id", "date_time"):
            if col not in main.c:
                raise cfg.error("source", f'table "{main.name}" has no column "{col}"')
        selectable: sa.FromClause = main
        columns: list[sa.ColumnElement] = list(main.c)
        seen = set(main.c.keys())
        for other in tables[1:]:
            if source.on not in other.c:
                raise cfg.error("source", f'joined table "{other.name}" has no column "{source.on}"')
            selectable = selectable.join(other, main.c[source.on] == other.c[source.on])
            for col in other.c:
                if col.name in ("id", "date_time", source.on):
                    continue
                label = col.name if col.name not in seen else f"{other.name}_{col.name}"
                seen.add(label)
                columns.append(col.label(label))
        self.main = main
        self.dt, self.id = main.c.date_time, main.c.id
        self.query = sa.select(*columns).select_from(selectable)
        self.columns = [c.name for c in columns]
        self.floor: datetime | None = None
        self.queries = 0
        self.entries_read = 0
        self._buf: deque[Instance] = deque()

    def _run(self, stmt) -> list[Instance]:
        self.queries += 1
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [Instance(dict(r)) for r in rows]

    def _after(self, tcursor: datetime, after: tuple[datetime, int] | None) -> sa.ColumnElement[bool]:
        """SQL for 'date_time >= tcursor and (date_time, id) > after', simplified where one implies the other."""
        if after is None or tcursor > after[0]:
            return self.dt >= tcursor
        t, i = after
        beyond = sa.or_(self.dt > t, sa.and_(self.dt == t, self.id > i))
        return beyond if tcursor <= t else sa.and_(self.dt >= tcursor, beyond)

    def next_entry(self, tcursor: datetime, after: tuple[datetime, int] | None, offset: int) -> Instance | None:
        """The entry §4.1 selects, or None when the source has nothing beyond the cursor yet."""
        if self.floor is not None and tcursor < self.floor:
            tcursor = self.floor
        buf = self._buf
        while buf and (buf[0].t < tcursor or (after is not None and buf[0].key <= after)):
            buf.popleft()
        if len(buf) <= offset:
            stmt = (self.query.where(self._after(tcursor, after))
                    .order_by(self.dt, self.id).limit(max(self.batch, offset + 1)))
            buf = self._buf = deque(self._run(stmt))
            if len(buf) <= offset:
                return None
        for _ in range(offset):
            buf.popleft()
        self.entries_read += 1
        return buf.popleft()

    def entry_at(self, times: list[datetime]) -> Instance | None:
        """The entry a bookmark points at: earliest (date_time, id) among the candidate local times."""
        if not times:
            return None
        rows = self._run(self.query.where(self.dt.in_(times)).order_by(self.dt, self.id).limit(1))
        return rows[0] if rows else None

    def latest_time(self) -> datetime | None:
        self.queries += 1
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(self.dt))).scalar()

    def reset(self) -> None:
        self._buf.clear()
