"""A bridge section's file as show and plot see it: one table per source, `time` in UTC unix seconds.

Opened read-only (as Grafana opens it), so looking never takes the bridge's write lock nor switches
journal modes. Rows at one time come back in rowid order, the order the bridge wrote them: for a
reshaping regime (pmthv: one row per channel) the k-th row of an instant is the same channel at
every instant, which plot relies on to draw a channel as one series.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from scraper.config import Settings
from scraper.config.plugins import load_regime
from scraper.modes.bridge import target
from scraper.targets.timeseries import column_types, read_only_engine

from .points import Layout, Point, is_numeric

EPOCH = datetime(1970, 1, 1)


def unix(t: datetime) -> float:
    return (t - EPOCH).total_seconds()


def utc(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def overall(spans: list[tuple[float | None, float | None]]) -> tuple[datetime, datetime] | None:
    """The UTC span several tables cover together, from each one's (min, max) unix time; None when
    every table is empty."""
    held = [(low, high) for low, high in spans if low is not None]
    if not held:
        return None
    return utc(min(low for low, _ in held)), utc(max(high for _, high in held))


class BridgeView:
    kind = "bridge"

    def __init__(self, cfg: Settings):
        path = target.path(cfg)
        self.name = str(cfg.target or target.DEFAULT_TARGET).removeprefix("sqlite:///")
        if not path.is_file():
            raise cfg.error("target", f"{path} does not exist (never bridged? run {cfg.command('', '--catchup')})")
        regime = load_regime(cfg)
        self.engine = read_only_engine(path)
        try:
            declared = {src.table: column_types(self.engine, src.table) for src in regime.sources}
        except sa.exc.DBAPIError as exc:
            self.engine.dispose()
            raise cfg.error("target", f"cannot read {path}: {exc.orig}") from None
        self.types = {t: {c: d for c, d in cols.items() if c != "time"} for t, cols in declared.items() if cols}
        if not self.types:
            self.engine.dispose()
            raise cfg.error("target", f"{path} has no table of {cfg.regime} yet "
                            f"({', '.join(declared)}; never bridged? run {cfg.command('', '--catchup')})")
        columns: list[str] = []
        for cols in self.types.values():
            columns += [c for c in cols if c not in columns]
        numeric = [c for c in columns if all(is_numeric(cols.get(c, "INTEGER")) for cols in self.types.values())]
        self.layout = Layout(list(self.types), columns, numeric)

    def _select(self, table: str, where: str, params: dict) -> list[Point]:
        cols = list(self.types[table])
        names = ", ".join(f'"{c}"' for c in ["time", *cols])
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(f'SELECT {names} FROM "{table}" WHERE {where} ORDER BY time, rowid',
                                        params).all()
        times: dict[float, datetime] = {}  # one datetime per instant: a reshaping regime's rows share it
        return [Point(table, times.get(r[0]) or times.setdefault(r[0], utc(r[0])), dict(zip(cols, r[1:])), unix=r[0])
                for r in rows]

    def at(self, when: datetime) -> list[Point]:
        """Per table, every row at the newest time at or before `when` (several: channels, twins)."""
        out = []
        for table in self.types:
            with self.engine.connect() as conn:
                last = conn.exec_driver_sql(f'SELECT max(time) FROM "{table}" WHERE time <= ?', (unix(when),)).scalar()
            if last is not None:
                out += self._select(table, "time = ?", (last,))
        return out

    def between(self, start: datetime, end: datetime) -> list[Point]:
        out = []
        for table in self.types:
            out += self._select(table, "time >= ? AND time <= ?", (unix(start), unix(end)))
        return out

    def covered(self) -> tuple[datetime, datetime] | None:
        with self.engine.connect() as conn:  # a lone min() and max() each come from the time index
            return overall([(conn.exec_driver_sql(f'SELECT min(time) FROM "{table}"').scalar(),
                             conn.exec_driver_sql(f'SELECT max(time) FROM "{table}"').scalar())
                            for table in self.types])

    def close(self) -> None:
        self.engine.dispose()
