"""Source entries of a time range, read ONCE per source, and what each would put into the target.

`plot` draws them and `report` replays every combination of settings over them in memory, so a day
of 10 s data costs one query per source however many combinations are asked for. The source is only
read (SELECT), never changed. "What an entry would put into the target" is the regime's own
propagate() applied to a vector holding just that entry, so the comparison with the target is made
in the target's columns and rows (a pmthv entry becomes 192 channel rows) for any regime.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from scraper import db
from scraper.api import Regime, Scraper, Source
from scraper.config import Settings
from scraper.core.sourcevector import Instance, SourceVector
from scraper.core.timezones import Clock
from scraper.sources.sql.reader import SourceReader
from scraper.runtime.blame import regime_failure
from scraper.targets.dbi import Context

NUMERIC = (sa.Integer, sa.Float, sa.Numeric, sa.Boolean)


@dataclass
class Entries:
    """One source's entries in (date_time, id) order (local times, as the engine samples them)."""

    source: Source
    context: Context
    entries: list[Instance]
    utc: list[datetime]


def numeric_columns(regime: type[Regime]) -> list[str]:
    """Target columns a deviation or a curve makes sense for."""
    return [name for name, typ in regime.target.columns.items() if isinstance(typ, NUMERIC)]


def read(cfg: Settings, regime: type[Regime], start_local: datetime, end_local: datetime) -> list[Entries]:
    """Every entry with start_local <= date_time <= end_local, one SELECT per source."""
    clock = Clock(cfg.source_tz)
    engine = db.connect(cfg, "source", readonly=True)
    try:
        out = []
        for src in regime.sources:
            reader = SourceReader(engine, src, cfg, cfg.get("batch", 1000))
            stmt = (reader.query.where(reader.dt >= start_local, reader.dt <= end_local)
                    .order_by(reader.dt, reader.id))
            with engine.connect() as conn:
                result = conn.execute(stmt)
                names = list(result.keys())
                entries = [Instance(zip(names, row)) for row in result]
            out.append(Entries(src, Context(src.sitemask, src.subsite, src.simmask, cfg.task), entries,
                               [clock.to_utc(e.t) for e in entries]))
        return out
    finally:
        engine.dispose()


def as_target(regime: type[Regime], scraper: Scraper, entries: Entries) -> list[list[dict[str, Any]]]:
    """Per entry, the payload rows propagate() yields when that entry is sv[-1] (and sv[0])."""
    out, propagate, source = [], scraper.propagate, entries.source
    for e in entries.entries:
        try:
            out.append(list(propagate(SourceVector(source, e.t, e))))
        except Exception as exc:  # the regime's own code: one line naming it and the entry, exit 3
            failure = regime_failure(exc, regime, e, source.label)
            if failure is None:
                raise
            raise failure from exc
    return out


def array(payloads: list[list[dict[str, Any]]], columns: list[str]) -> np.ndarray:
    """(items, rows, columns) floats; None and missing rows are NaN, so they never count as deviation."""
    depth = max((len(rows) for rows in payloads), default=0)
    if not columns or not depth:
        return np.full((len(payloads), depth, len(columns)), np.nan)
    if all(len(rows) == depth for rows in payloads):  # the usual case: one C-speed conversion (bench/)
        try:
            get = operator.itemgetter(*columns)
            flat = [get(r) for rows in payloads for r in rows]
            shape = (len(payloads), depth, len(columns))
            try:
                return np.array(flat, dtype=float).reshape(shape)
            except TypeError:  # a None among the values
                values = np.array(flat, dtype=object).reshape(shape)
                return np.where(values == None, np.nan, values).astype(float)  # noqa: E711 (elementwise)
        except KeyError:
            pass  # a row without some column: the general path below
    out = np.full((len(payloads), depth, len(columns)), np.nan)
    for i, rows in enumerate(payloads):
        if rows:
            out[i, :len(rows)] = [[np.nan if r.get(c) is None else float(r[c]) for c in columns] for r in rows]
    return out
