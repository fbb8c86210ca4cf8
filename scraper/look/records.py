"""Reading validity records and their payload rows back from a DBI target, for show, plot and report.

A mode that writes validity records (scraper, averager) is looked at through `DbiView`. The bridge's
time series and the decimator's thinned table hold points, not records: they have views of their own
(points.py), chosen before this module is asked. Another mode that writes validity records plugs in
through VIEWS (or a `view(cfg, regime)` function in its mode module); a mode without any, such as the
faker, is an operator mistake to name here.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Protocol

import sqlalchemy as sa

from scraper import db
from scraper.api import Regime
from scraper.config import Settings
from scraper.config.plugins import load_regime
from scraper.targets.dbi import Context

VLD_COLUMNS = ("SEQNO", "TIMESTART", "TIMEEND", "SITEMASK", "SIMMASK", "SUBSITE", "TASK")


@dataclass
class Record:
    """One validity record (times in UTC) with its payload rows in ROW_COUNTER order."""

    seqno: int
    timestart: datetime
    timeend: datetime
    context: Context
    rows: list[dict[str, Any]] = field(default_factory=list)


class View(Protocol):
    """What show/plot/report need from a target: records valid at a time, records in a range."""

    kls: str
    columns: list[str]

    def at(self, when: datetime) -> list[Record]: ...

    def between(self, start: datetime, end: datetime) -> list[Record]: ...

    def covered(self) -> tuple[datetime, datetime] | None: ...

    def close(self) -> None: ...


class DbiView:
    """The `<kls>Vld` + `<kls>` tables of a section's target, read only. A record is valid at t when
    TIMESTART <= t < TIMEEND (the DBI convention: the end belongs to the next record); only the last
    record of a chain also holds at its TIMEEND."""

    def __init__(self, cfg: Settings, regime: type[Regime]):
        cfg.require("target")
        self.cfg = cfg
        self.kls = cfg.kls or regime.target.kls
        self.contexts = [Context(s.sitemask, s.subsite, s.simmask, cfg.task) for s in regime.sources]
        self.engine = db.connect(cfg, "target")
        for name in (f"{self.kls}Vld", self.kls):
            if not db.table_exists(self.engine, name):
                self.engine.dispose()
                raise cfg.error("kls", f"target has no table {name} (never run? start with --ALLOW_DROP_CREATE_TABLE)")
        md = sa.MetaData()
        self.vld = sa.Table(f"{self.kls}Vld", md, autoload_with=self.engine)
        self.payload = sa.Table(self.kls, md, autoload_with=self.engine)
        self.columns = [c.name for c in self.payload.c if c.name not in ("SEQNO", "ROW_COUNTER")]

    def _mine(self) -> sa.ColumnElement[bool]:
        v = self.vld.c
        return sa.or_(*(sa.and_(v.SITEMASK == c.sitemask, v.SUBSITE == c.subsite, v.SIMMASK == c.simmask,
                                v.TASK == c.task) for c in self.contexts))

    def _records(self, where: sa.ColumnElement[bool]) -> list[Record]:
        v, p = self.vld.c, self.payload.c
        stmt = (sa.select(*(v[n] for n in VLD_COLUMNS)).where(self._mine(), where)
                .order_by(v.SITEMASK, v.SUBSITE, v.TIMESTART, v.SEQNO))
        with self.engine.connect() as conn:
            heads = conn.execute(stmt).all()
            records = {h.SEQNO: Record(h.SEQNO, h.TIMESTART, h.TIMEEND,
                                       Context(h.SITEMASK, h.SUBSITE, h.SIMMASK, h.TASK)) for h in heads}
            if records:
                seqnos = sa.select(v.SEQNO).where(self._mine(), where).scalar_subquery()
                rows = conn.execute(sa.select(self.payload).where(p.SEQNO.in_(seqnos))
                                    .order_by(p.SEQNO, p.ROW_COUNTER)).mappings()
                for row in rows:
                    records[row["SEQNO"]].rows.append({c: row[c] for c in self.columns})
        return list(records.values())

    def at(self, when: datetime) -> list[Record]:
        """Per context, the record valid at `when` (UTC)."""
        v = self.vld.c
        found = self._records(sa.and_(v.TIMESTART <= when, v.TIMEEND > when))
        held = {r.context for r in found}
        last = [r for r in self._records(v.TIMEEND == when) if r.context not in held]
        return sorted(found + self._last_only(last), key=_order)

    def _last_only(self, ending: list[Record]) -> list[Record]:
        """Of records ending exactly at a time, those that end their chain (nothing starts there)."""
        if not ending:
            return []
        v = self.vld.c
        starting = {r.context for r in self._records(v.TIMESTART == ending[0].timeend)}
        return [r for r in ending if r.context not in starting]

    def between(self, start: datetime, end: datetime) -> list[Record]:
        """Every record overlapping [start, end] (UTC), per context in time order."""
        v = self.vld.c
        return sorted(self._records(sa.and_(v.TIMESTART <= end, v.TIMEEND >= start)), key=_order)

    def covered(self) -> tuple[datetime, datetime] | None:
        v = self.vld.c
        with self.engine.connect() as conn:
            low, high = conn.execute(sa.select(sa.func.min(v.TIMESTART), sa.func.max(v.TIMEEND))
                                     .where(self._mine())).one()
        return None if low is None else (low, high)

    def close(self) -> None:
        self.engine.dispose()


def _order(r: Record) -> tuple:
    return r.context.sitemask, r.context.subsite, r.timestart, r.seqno


# mode -> how its target is looked at; a mode module may instead define `view(cfg, regime)`
VIEWS: dict[str, Callable[[Settings, type[Regime]], View]] = {"scraper": DbiView, "averager": DbiView}


def view(cfg: Settings) -> View:
    """The view of a section's target, or one line saying why this mode has none."""
    make = VIEWS.get(cfg.mode) or _module_view(cfg.mode)
    if make is None:  # before loading the regime: a decimator's declares no target at all
        raise cfg.error("mode", f"mode {cfg.mode} writes no validity records, bridged points or thinned table: "
                        "nothing to show (use a scraper, averager, bridge, decimator or logger section)")
    return make(cfg, load_regime(cfg))


def _module_view(mode: str) -> Callable[[Settings, type[Regime]], View] | None:
    try:
        from scraper.modes import MODES  # the mode registry, where it exists
    except ImportError:
        return None
    name = MODES.get(mode) if isinstance(MODES, dict) else None
    if not name:
        return None
    return getattr(importlib.import_module(name), "view", None)
