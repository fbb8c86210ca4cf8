"""`scr.py status` of a bridge section, read from the bridged file (read-only) and the source.

LAST VALIDITY shows the newest bridged point (UTC), LAG how far it is behind the source's newest entry
(DB time), LAST WRITE when the last round committed (wall clock, from bridge_points). STALE: no round
for longer than two sleeps plus a minute (the bridge is not running); LAGGING: rounds run but the
newest bridged point is that far behind the source; ERROR: no file, or it cannot be read.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta

import sqlalchemy as sa

from scraper import db
from scraper.config import Settings
from scraper.config.plugins import load_regime
from scraper.core.timezones import Clock
from scraper.core.wallclock import Bound
from scraper.runtime import metrics
from scraper.targets.timeseries import read_only_engine

from . import target

EPOCH = datetime(1970, 1, 1)


def section_health(cfg: Settings, st, now: datetime) -> None:
    path = target.path(cfg)
    regime = load_regime(cfg)  # a broken regime is an ERROR even before the first run
    if not path.exists():
        st.health, st.note = "NEVER RUN", f"{path} does not exist yet"
        return
    tables = [src.table for src in regime.sources]
    live = read_only_engine(path)
    try:
        with live.connect() as conn:
            names = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
            newest = [conn.exec_driver_sql(f'SELECT max(time) FROM "{t}"').scalar() for t in tables if t in names]
            st.failed = metrics.failed(metrics.latest(live, cfg.section))
            last_round = (conn.exec_driver_sql("SELECT max(time) FROM bridge_points WHERE section = ?",
                                               (cfg.section,)).scalar() if "bridge_points" in names else None)
    finally:
        live.dispose()
    points = [t for t in newest if t is not None]
    if last_round is None:
        st.health, st.note = "NEVER RUN", f"no round of this section in {path} yet"
        return
    if not points:
        st.health, st.note = "STALE", "nothing bridged yet"
        return
    source = db.connect(cfg, "source", readonly=True)
    try:
        clock, latest, bound = Clock(cfg.source_tz), None, Bound.of(cfg)()
        with source.connect() as conn:
            for src in regime.sources:
                t = db.reflect(source, src.table, cfg, "source")
                value = conn.execute(sa.select(sa.func.max(t.c.date_time)).where(t.c.date_time <= bound)).scalar()
                if isinstance(value, str):
                    value = datetime.fromisoformat(value)
                if value is not None and (latest is None or value > latest):
                    latest = value
    finally:
        source.dispose()
    slowest = EPOCH + timedelta(seconds=min(points))
    st.last_validity = slowest
    st.lag = max(clock.to_utc(latest) - slowest, timedelta(0)) if latest is not None else None
    st.last_write_age = max(timedelta(seconds=time.time() - last_round), timedelta(0))
    slack = 2 * cfg.sleep + timedelta(minutes=1)
    st.health = ("STALE" if st.last_write_age > slack else
                 "LAGGING" if st.lag is not None and st.lag > slack else "OK")
    st.note = f"{len(points)} table(s) in {path}"
