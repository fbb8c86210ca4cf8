"""The decimator's SQL, built with SQLAlchemy Core for every backend: one place to read what it asks.

A chunk (a run of whole slices) is thinned by three statements in one transaction: one GROUP BY per
chunk giving, per slice and group, the keeper's time, the number of entries and the rollup; one
lookup of the entries at those times (to break ties by id); and one DELETE of the chunk's time range
except the keepers. The slice of an entry is the averager's bin expression (bins.py),
so slices and averager bins agree to the microsecond, DST nights included.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from scraper.core.bins import Chunk
from scraper.db import dialects
from scraper.modes.average import bin_expression
from scraper.db.kinds import numbers

from .slices import Slicing
from .tables import TableSpec

SLICE = "slice_index"
KEEPER_LIST_MAX = 500  # keeper ids bound in one DELETE; a chunk with more is deleted in runs of slices


class Statements:
    def __init__(self, spec: TableSpec, slicing: Slicing, keep_rule: str, dialect: str, floor: datetime | None = None):
        """`floor`: `timefloor` (source-local). Entries before it (1970 rows, MariaDB zero dates) and
        without a time are no data a slice can place: no statement here reads, thins or counts them."""
        self.spec, self.slicing, self.dialect, self.keep_rule = spec, slicing, dialect, keep_rule
        self.floor = floor
        self.sql = dialects.impl(dialect)
        t, i = spec.time, spec.id
        self.order = [t, i] if keep_rule == "first" else [t.desc(), i.desc()]

    def at(self, local: datetime) -> sa.ColumnElement:
        """A time to compare the time column with (SQLite: bound as text that sorts right against
        every spelling of it, see dialects.py)."""
        return self.sql.time_literal(local, self.spec.time.type)

    def low(self, local: datetime) -> datetime:
        """`local`, or timefloor when later: a slice holding timefloor keeps nothing before it."""
        return local if self.floor is None else max(local, self.floor)

    def window(self, chunk: Chunk) -> tuple[sa.ColumnElement[bool], ...]:
        t = self.spec.time
        return (t >= self.at(self.low(chunk.local_lo)), t < self.at(chunk.local_hi))

    def id_range(self, chunk: Chunk) -> sa.Select:
        """(min id, max id) of the window, from the time index alone (InnoDB's secondary index holds
        the primary key): bounding the other statements by it lets InnoDB walk the table in
        primary-key order instead of looking every row up through the time index (bench/)."""
        ranged = self.sql.ranged_id(self.spec.id)
        return sa.select(sa.func.min(ranged), sa.func.max(ranged)).where(*self.window(chunk))

    def bounded(self, chunk: Chunk, ids: tuple[int, int] | None) -> tuple[sa.ColumnElement[bool], ...]:
        if ids is None or ids[0] is None:
            return self.window(chunk)
        return (*self.window(chunk), self.spec.id >= ids[0], self.spec.id <= ids[1])

    def slice_of(self, chunk: Chunk) -> sa.ColumnElement:
        return bin_expression(self.spec.time, chunk, self.slicing.bins, self.dialect)

    def raw_time(self) -> sa.ColumnElement:
        """The time column as stored, so that it can be bound again to find exactly the rows holding it."""
        return self.sql.stored_time(self.spec.time)

    def summary(self, chunk: Chunk, rollup: bool, ids: tuple[int, int] | None = None, clean: bool = False) -> sa.Select:
        """Per slice and group, in ONE grouped scan: the keeper's time (`edge`, min or max), the number
        of entries, and with `rollup` avg/min/max of every numeric column. Cheaper than ranking the rows
        with a window function (which sorts them all); ties at the edge are resolved by at_edges()."""
        spec = self.spec
        slice_ = self.slice_of(chunk)
        keys = [slice_.label(SLICE)] + ([spec.group.label("g")] if spec.group is not None else [])
        edge = (sa.func.min if self.keep_rule == "first" else sa.func.max)(self.raw_time()).label("edge")
        aggs = [edge, sa.func.count().label("count")]
        if rollup:
            for c in spec.numeric:
                # `clean`: text, blobs, NaN, ±inf skipped (db/kinds.py); asked for only when a plain
                # min or max shows one (thinner.py), as the CASE costs ~70 % more per entry on SQLite
                x = numbers(self.dialect, c) if clean else c
                aggs += [sa.func.avg(x).label(f"{c.name}_avg"), sa.func.min(x).label(f"{c.name}_min"),
                         sa.func.max(x).label(f"{c.name}_max")]
        group_by = [slice_] + ([spec.group] if spec.group is not None else [])
        return sa.select(*keys, *aggs).where(*self.bounded(chunk, ids)).group_by(*group_by)

    def at_edges(self, chunk: Chunk, edges: list) -> sa.Select:
        """(id, [g,] time) of the entries at the keepers' times: the keeper is the lowest (first) or
        highest (last) id among those of its group, which makes the rule (time, id) exact."""
        spec = self.spec
        cols = [spec.id.label("id"), self.raw_time().label("edge")]
        if spec.group is not None:
            cols.append(spec.group.label("g"))
        return sa.select(*cols).where(*self.window(chunk), self.raw_time().in_(edges))

    def delete(self, chunk: Chunk, keeper_ids: list[int], ids: tuple[int, int] | None = None) -> sa.Delete:
        """Every entry of the window but the keepers (bound as a list: thinner.py keeps it short)."""
        spec = self.spec
        keep = spec.id.not_in(keeper_ids) if keeper_ids else sa.true()
        return spec.table.delete().where(*self.bounded(chunk, ids), keep)

    def delete_ids(self, ids: list[int]) -> sa.Delete:
        return self.spec.table.delete().where(self.spec.id.in_(ids))

    def rows(self, chunk: Chunk) -> sa.Select:
        """Every entry of a chunk with its slice, for re-thinning slices that received late entries."""
        spec = self.spec
        return (sa.select(spec.id.label("id"), spec.time.label("t"),
                          *([spec.group.label("g")] if spec.group is not None else []),
                          self.slice_of(chunk).label(SLICE), *spec.numeric)
                .where(*self.window(chunk)))

    def nth_time(self, local_lo: datetime, n: int) -> sa.Select:
        """The time of the n-th entry at/after local_lo: where a chunk of about n entries ends."""
        t = self.spec.time
        return sa.select(t).where(t >= self.at(self.low(local_lo))).order_by(t).limit(1).offset(n)

    def span(self, bound: datetime) -> list[sa.Select]:
        """(oldest time from timefloor on, newest time up to the wall-clock `bound`, highest id): where
        thinning starts, the horizon, the watermark. Entries dated beyond `bound` are not data yet
        (core/wallclock.py), those before timefloor never were: neither moves the horizon or the start.
        Three statements: SQLite answers a lone min() or max() from the index, several by a full scan."""
        spec = self.spec
        early = spec.time <= sa.bindparam("_fut", bound, type_=spec.time.type)
        placed = () if self.floor is None else (spec.time >= self.at(self.floor),)
        return [sa.select(sa.func.min(spec.time)).where(*placed),
                sa.select(sa.func.max(spec.time)).where(early, *placed), sa.select(sa.func.max(spec.id))]

    def before_floor(self) -> list[sa.Select]:
        """Counts of the entries no slice can place: before timefloor, and (a nullable column) without
        a time. Two index ranges, not an OR (which SQLite answers by scanning the whole index)."""
        t = self.spec.time
        nullable = getattr(getattr(t, "clause", t), "nullable", True)  # a timestamptz column is type-coerced
        conds = ([t < self.at(self.floor)] if self.floor is not None else []) + ([t.is_(None)] if nullable else [])
        return [sa.select(sa.func.count()).select_from(self.spec.table).where(c) for c in conds]

    def late(self, watermark: int, top: int, local_until: datetime) -> sa.Select:
        """Entries committed since the watermark that lie behind the cursor (an id range: the primary key)."""
        spec = self.spec
        placed = () if self.floor is None else (spec.time >= self.at(self.floor),)  # a 1970 row is not late
        return (sa.select(spec.id, spec.time)
                .where(spec.id > watermark, spec.id <= top, spec.time < self.at(local_until), *placed))
