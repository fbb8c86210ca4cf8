"""`scr.py status` of a logger section: from the target (read only) and the local spool.

ERROR while the spool is full (new readings are being dropped) or the target cannot be read; STALE
when a device section wrote nothing for two poll periods plus a minute, or nothing ever; WARNING
while its batches are refused as dated in the future (the `future` gauge of its last metrics,
ahead.py); OK otherwise. LAST VALIDITY is the newest reading's time (UTC); a spool that holds readings is noted.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta

import sqlalchemy as sa

from scraper import db
from scraper.config import Settings
from scraper.config.plugins import load_regime
from scraper.errors import OperatorError
from scraper.runtime import metrics

from . import paths
from .api import Device
from .spool import pending_readings
from .store import LEDGER

EPOCH = datetime(1970, 1, 1)


def _spool(cfg: Settings, device: bool) -> tuple[bool, list[str]]:
    """(full, notes) from the local spool alone: true whatever the target does."""
    if not device:
        return False, []
    _records, readings = pending_readings(paths.local(cfg, cfg.spool))
    return readings >= cfg.spool_max, [f"{readings} readings in the spool"] if readings else []


def _full(cfg: Settings) -> str:
    return f"spool full (spool_max = {cfg.spool_max}): new readings are dropped"


def offline_note(cfg: Settings) -> str:
    """What status can say while the target does not answer: the spool, which is local."""
    full, notes = _spool(cfg, isinstance(load_regime(cfg, need_target=False).sources[0], Device))
    return "; ".join([_full(cfg)] * full + notes)


def section_health(cfg: Settings, st, now: datetime) -> None:
    regime = load_regime(cfg, need_target=False)
    device = isinstance(regime.sources[0], Device)
    full, notes = _spool(cfg, device)
    try:
        engine = db.connect(cfg, "target")
    except OperatorError as exc:
        if not full:
            raise
        st.health, st.note = "ERROR", "; ".join([_full(cfg), *notes, str(exc)])
        return
    try:
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            newest = [conn.execute(sa.select(sa.func.max(sa.column("time"))).select_from(sa.table(t.name))).scalar()
                      for t in regime.topics if t.name in names]
            files, loaded = None, None
            if not device and LEDGER in names:
                files, loaded = conn.execute(sa.text(f"SELECT count(*), max(loaded) FROM {LEDGER} WHERE section = :s"),
                                             {"s": cfg.section}).one()
        _when, ahead = metrics.latest(engine, cfg.section).get("future", (None, None))
    finally:
        engine.dispose()
    points = [float(t) for t in newest if t is not None]
    if points:
        st.last_validity = EPOCH + timedelta(seconds=max(points))
        st.last_write_age = max(timedelta(seconds=time.time() - max(points)), timedelta(0))
    if files is not None:
        notes.append(f"{files} files loaded")
        if loaded is not None:  # a file's readings may be old: LAST WRITE is when it was loaded
            loaded = datetime.fromisoformat(loaded) if isinstance(loaded, str) else loaded
            st.last_write_age = max(now.replace(tzinfo=None) - loaded, timedelta(0))
    if full:
        st.health = "ERROR"
        notes.insert(0, _full(cfg))
    elif not points:
        st.health = "STALE"
        notes.insert(0, "nothing logged yet")
    elif device and st.last_write_age > 2 * cfg.sleep + timedelta(minutes=1):
        st.health = "STALE"
    else:
        st.health = "OK"
    if ahead and st.health == "OK":
        st.health = "WARNING"
    if ahead:
        notes.insert(0, f"{ahead:g} batches refused as dated in the future (kept in {cfg.rejected})")
    st.note = "; ".join(notes)
