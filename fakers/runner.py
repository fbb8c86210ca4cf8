"""mode = faker: write fake entries into a regime's source tables (DESIGN.md §9).

All tables of a regime advance in lockstep (same id, same date_time), as DCS writes an HV table and its
power table together. Without `faker_dropsrc` the faker continues after the newest entry present, so a
faker can be stopped and restarted like a real DCS.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from scraper import db
from scraper.config import Settings
from scraper.plugins import load_regime

from .profiles import PROFILES

log = logging.getLogger("scraper.faker")
CHUNK = 2000  # rows per transaction when writing as fast as possible


@dataclass
class FakerSummary:
    section: str
    written: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def text(self) -> str:
        span = f"{self.first} .. {self.last} (source-local)" if self.first else "nothing"
        return f"[{self.section}] fake entries written {self.written} per table, covering {span}"


def run_faker(cfg: Settings, stop: threading.Event | None = None) -> FakerSummary:
    stop = stop or threading.Event()
    regime = load_regime(cfg)
    faker = regime.faker(cfg)
    if cfg.profile not in PROFILES:
        raise cfg.error("profile", f'unknown profile "{cfg.profile}" (use one of {", ".join(PROFILES)})')
    profile = PROFILES[cfg.profile]
    if not faker.tables:
        raise cfg.error("regime", f"{cfg.regime} has a Faker without fake source tables")
    engine = db.connect(cfg, "source", writer=True, create=True)
    metadata = faker.tables[0].metadata
    try:
        with engine.begin() as conn:
            if cfg.faker_dropsrc:
                metadata.drop_all(conn, tables=list(faker.tables), checkfirst=True)
            metadata.create_all(conn, tables=list(faker.tables), checkfirst=True)
        next_id, dt = _start(engine, faker.tables, cfg)
        summary = FakerSummary(cfg.section)
        pending: dict[str, list[dict]] = {t.name: [] for t in faker.tables}
        fast = cfg.sleep.total_seconds() == 0
        while not stop.is_set() and (cfg.maxiter == 0 or summary.written < cfg.maxiter):
            for table in faker.tables:
                pending[table.name].append(faker.fake(table, next_id, dt, profile))
            summary.first = summary.first or dt
            summary.last = dt
            summary.written += 1
            next_id += 1
            dt += cfg.interval
            if not fast or len(pending[faker.tables[0].name]) >= CHUNK:
                _flush(engine, faker.tables, pending)
            if not fast:
                stop.wait(cfg.sleep.total_seconds())
        _flush(engine, faker.tables, pending)
    finally:
        engine.dispose()
    return summary


def _start(engine, tables, cfg: Settings) -> tuple[int, datetime]:
    """Continue after the newest entry present, or begin at faker_timestart with id 1."""
    with engine.connect() as conn:
        top_id = max((conn.execute(sa.select(sa.func.max(t.c.id))).scalar() or 0) for t in tables)
        times = [conn.execute(sa.select(sa.func.max(t.c.date_time))).scalar() for t in tables]
    times = [t for t in times if t is not None]
    return top_id + 1, (max(times) + cfg.interval) if times else cfg.faker_timestart


def _flush(engine, tables, pending: dict[str, list[dict]]) -> None:
    if not pending[tables[0].name]:
        return
    with engine.begin() as conn:
        for table in tables:
            conn.execute(table.insert(), pending[table.name])
            pending[table.name].clear()
