"""What `scr.py status` says of source entries a section will not read: not yet (dated ahead of the
wall clock) or never (before timefloor, zero dates, 1970 rows, NULL times).

A section that cannot see part of its source is not OK even while it writes on time: one row dated
2099 used to leave a scraper silent with status OK. Each count is an index range at one end of the
time index, so it costs what those rows do, not the table. Read-only, like the rest of status.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from scraper import db
from scraper.config import Settings
from scraper.config.plugins import load_regime
from scraper.core.wallclock import Bound


def note(cfg: Settings) -> str:
    """'' when every source entry is data the section reads (or will read in order); else what is not."""
    regime = load_regime(cfg, need_target=False)
    bound, floor = Bound.of(cfg)(), cfg.get("timefloor")
    engine = db.connect(cfg, "source", readonly=True)
    parts = []
    try:
        with engine.connect() as conn:
            for src in regime.sources:
                table = db.source_table(engine, src.table, cfg) if src.time == "date_time" else \
                    db.reflect(engine, src.table, cfg, "source")
                col = table.c[src.time]
                ahead = _count(conn, table, col > bound)
                if ahead:
                    parts.append(f"{src.table}: {ahead} entries dated ahead of the clock (not read yet)")
                if floor is not None:
                    never = _count(conn, table, col < floor) + (_count(conn, table, col.is_(None)) if col.nullable else 0)
                    if never:
                        parts.append(f"{src.table}: {never} entries before timefloor or without a time (never read)")
    finally:
        engine.dispose()
    return "; ".join(parts)


def _count(conn: sa.Connection, table: sa.Table, where: Any) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar() or 0)
