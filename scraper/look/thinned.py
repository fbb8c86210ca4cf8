"""A decimator section's table as show and plot see it: thinned in place, so the table IS the data.

Each entry is labelled with the part of the table it lies in: `thinned` (before the cursor: its slice
keeps one entry per group), `full` (at or after the keep boundary, the horizon: full rate by design)
or `pending` (behind the horizon but not thinned yet: the decimator is behind or has not run). The
horizon is computed from the data and the section's `keep`/`every` exactly as a pass computes it
(modes/decimate/slices.py), so `--keep 10m` on the command line looks with the setting a run used.
The source is opened read-only: looking never thins.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from scraper import db
from scraper.config import Settings
from scraper.config.plugins import load_regime
from scraper.core.timezones import Clock
from scraper.core.units import format_duration
from scraper.core.wallclock import Bound
from scraper.modes.decimate.slices import Slicing
from scraper.modes.decimate.statements import Statements
from scraper.modes.decimate.tables import CURSOR_TABLE, cursor_table, read_cursor, table_spec

from .points import Layout, Point

TICK = timedelta(microseconds=1)  # `t <= x` as `t < x + 1 us`: Statements.at's spelling is exact for `<`


class ThinnedView:
    kind = "decimator"

    def __init__(self, cfg: Settings):
        regime = load_regime(cfg, need_target=False)
        self.clock = Clock(cfg.source_tz)
        self.engine = db.connect(cfg, "source", readonly=True)
        try:
            self.spec = table_spec(self.engine, cfg, regime.sources[0])
            self.slicing = Slicing(self.clock, cfg.every, cfg.keep)
            self.sql = Statements(self.spec, self.slicing, cfg.keep_rule, self.engine.dialect.name)
            with self.engine.connect() as conn:
                bound = Bound.of(cfg)
                oldest, newest = (conn.execute(s).scalar() for s in self.sql.span(bound())[:2])
                cursor = (read_cursor(conn, cursor_table(), self.spec.name)
                          if db.table_exists(self.engine, CURSOR_TABLE) else None)
                self.groups = ([g for (g,) in conn.execute(sa.select(self.spec.group).distinct()
                                                           .order_by(self.spec.group))]
                               if self.spec.group is not None else [None])
        except BaseException:
            self.engine.dispose()
            raise
        self.name = self.spec.name
        self.span = (self.clock.to_utc(oldest), self.clock.to_utc(newest)) if newest is not None else None
        self.horizon = self.slicing.horizon(newest, bound.now()) if newest is not None else None
        self.cursor = cursor.until if cursor is not None else None
        group = self.spec.group.name if self.spec.group is not None else None
        self.values = [c for c in self.spec.table.c if c.name != self.spec.time.name]
        names = [c.name for c in self.values]
        numeric = [c.name for c in self.spec.numeric]
        self.layout = Layout([self.name], names, numeric, group, self._notes(cfg, group), self.cursor, self.horizon)

    def _notes(self, cfg: Settings, group: str | None) -> list[str]:
        when = (lambda t: f"{t:%Y-%m-%d %H:%M:%S} UTC")
        per = f"one entry per {format_duration(cfg.every)}" + (f" and {group}" if group else "")
        thinned = (f"thinned ({per}, the {cfg.keep_rule}) before {when(self.cursor)}" if self.cursor
                   else "not thinned yet")
        full = (f"full rate from {when(self.horizon)} (keep = {format_duration(cfg.keep)} before the newest entry)"
                if self.horizon else "empty")
        pending = (f"; {when(self.cursor or self.span[0])} .. {when(self.horizon)} is behind the keep "
                   "boundary, not thinned yet (pending)"
                   if self.horizon and (self.cursor or self.span[0]) < self.horizon else "")
        further = ("; thinned beyond the keep boundary by an earlier run with a shorter keep"
                   if self.horizon and self.cursor and self.cursor > self.horizon else "")
        return [f"{thinned}; {full}{pending}{further}"]

    def part(self, t: datetime) -> str:
        if self.cursor is not None and t < self.cursor:
            return "thinned"
        return "full" if self.horizon is not None and t >= self.horizon else "pending"

    def _points(self, stmt: sa.Select) -> list[Point]:
        spec = self.spec
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        out = []
        for r in rows:
            t = self.clock.to_utc(r[0])
            out.append(Point(self.name, t, dict(zip((c.name for c in self.values), r[1:])), part=self.part(t)))
        return out

    def _select(self) -> sa.Select:
        return sa.select(self.spec.time, *self.values)

    def at(self, when: datetime) -> list[Point]:
        """Per group, the entry at or last before `when`, by (time, id)."""
        spec, bound = self.spec, self.sql.at(self.clock.to_local(when) + TICK)
        out = []
        for g in self.groups:
            stmt = self._select().where(spec.time < bound)
            if spec.group is not None:
                stmt = stmt.where(spec.group == g)
            out += self._points(stmt.order_by(spec.time.desc(), spec.id.desc()).limit(1))
        return sorted(out, key=lambda p: (p.time, p.values.get("id")))

    def between(self, start: datetime, end: datetime) -> list[Point]:
        spec = self.spec
        lo, hi = self.clock.to_local(start), self.clock.to_local(end) + TICK
        return self._points(self._select().where(spec.time >= self.sql.at(lo), spec.time < self.sql.at(hi))
                            .order_by(spec.time, spec.id))

    def covered(self) -> tuple[datetime, datetime] | None:
        return self.span

    def close(self) -> None:
        self.engine.dispose()
