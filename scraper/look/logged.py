"""A logger section's target as show and plot see it: the bridge's time-series layout (a table per
topic, `time` in UTC unix seconds plus the topic's fields) on whichever backend the section writes.

So a logged table is looked at like a bridged one (show_points.py, plot_points.py), only through
SQLAlchemy Core instead of the bridge's SQLite file: the target may be MariaDB or PostgreSQL. Rows of
one instant come back ordered by the topic's identity fields (a thermometry bridge's `channel`), so
the k-th row of an instant is the same channel at every instant, which plot draws as one series. The
target is opened read-only where the backend allows (SQLite); looking never writes.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from scraper import db
from scraper.config import Settings
from scraper.config.plugins import load_regime
from scraper.modes.logger.api import LoggerRegime
from scraper.modes.logger.store import topic_table

from .bridged import overall, unix, utc
from .points import Layout, Point


class LoggedView:
    kind = "logger"

    def __init__(self, cfg: Settings):
        regime = load_regime(cfg, need_target=False)
        if not issubclass(regime, LoggerRegime):
            raise cfg.error("regime", f'"{cfg.regime}" is not a LoggerRegime (scraper.modes.logger.api)')
        self.name = db.locate(cfg, "target", missing=f"never logged? run {cfg.command('')}").render_as_string(
            hide_password=True)
        self.engine = db.connect(cfg, "target", readonly=True)
        backend = self.engine.dialect.name
        md = sa.MetaData()
        topics = [t for t in regime.topics if db.table_exists(self.engine, t.name)]
        if not topics:
            self.engine.dispose()
            raise cfg.error("target", f"{self.name} has no table of {cfg.regime} yet "
                            f"({', '.join(t.name for t in regime.topics)}; never logged? run {cfg.command('')})")
        self.tables = {t.name: topic_table(md, t, backend) for t in topics}
        self.order = {t.name: [self.tables[t.name].c[f] for f in t.identity] for t in topics}
        self.fields = {t.name: list(t.fields) for t in topics}
        columns: list[str] = []
        for fields in self.fields.values():
            columns += [c for c in fields if c not in columns]
        numeric = [c for c in columns
                   if all(t.fields.get(c, float) in (float, int, bool) for t in topics)]
        self.layout = Layout(list(self.tables), columns, numeric)

    def _select(self, table: str, where: sa.ColumnElement[bool]) -> list[Point]:
        t = self.tables[table]
        stmt = sa.select(t).where(where).order_by(t.c.time, *self.order[table])
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        names = self.fields[table]
        return [Point(table, utc(r[0]), dict(zip(names, r[1:])), unix=_stored(r[0])) for r in rows]

    def at(self, when: datetime) -> list[Point]:
        """Per table, every row at the newest time at or before `when` (one per channel)."""
        out = []
        for name, t in self.tables.items():
            with self.engine.connect() as conn:
                last = conn.execute(sa.select(sa.func.max(t.c.time)).where(t.c.time <= unix(when))).scalar()
            if last is not None:
                out += self._select(name, t.c.time == last)
        return out

    def between(self, start: datetime, end: datetime) -> list[Point]:
        out = []
        for name, t in self.tables.items():
            out += self._select(name, t.c.time.between(unix(start), unix(end)))
        return out

    def covered(self) -> tuple[datetime, datetime] | None:
        with self.engine.connect() as conn:  # a lone min() and max() each come from the (time, ...) index
            return overall([(conn.execute(sa.select(sa.func.min(t.c.time))).scalar(),
                             conn.execute(sa.select(sa.func.max(t.c.time))).scalar())
                            for t in self.tables.values()])

    def close(self) -> None:
        self.engine.dispose()


def _stored(t: float | int) -> float | int:
    """`time` as the logger wrote it: a server's DOUBLE hands back 1790000000.0 for whole seconds,
    which SQLite's INTEGER affinity stores (and shows) as 1790000000."""
    return int(t) if float(t).is_integer() else float(t)
