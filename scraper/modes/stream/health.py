"""`scr.py status` for a stream section, read from the target (positions, rejects, scraper_metrics).

STALE: no position committed yet, or none for longer than two `metrics_every` while messages were
behind; LAGGING: messages behind; OK otherwise. The note gives messages behind per partition and
seconds behind (the last metrics the section wrote), and the replays and rejects so far.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from scraper import db
from scraper.config import Settings
from scraper.runtime import metrics

from .ledger import Ledger
from .regime import load_stream_regime


def section_health(cfg: Settings, st, now: datetime) -> None:
    cfg.require("target")
    regime = load_stream_regime(cfg)
    engine = db.connect(cfg, "target")
    try:
        ledger = Ledger(engine, cfg.section, regime)
        if ledger.missing():
            raise cfg.error("target", f"target has no table {', '.join(ledger.missing())} "
                            "(never run? start with --ALLOW_DROP_CREATE_TABLE)")
        p, r, m = ledger.positions.c, ledger.rejects.c, metrics.metrics_table().c
        with engine.connect() as conn:
            last = conn.execute(sa.select(sa.func.max(p.updated)).where(p.section == cfg.section)).scalar()
            rejected = conn.execute(sa.select(sa.func.count()).where(r.section == cfg.section)).scalar()
            replayed = 0.0
            if sa.inspect(conn).has_table(metrics.TABLE):
                replayed = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(m.value), 0)).where(
                    m.section == cfg.section, m.name == "replayed")).scalar()
        newest = metrics.latest(engine, cfg.section)
    finally:
        engine.dispose()
    behind = {name[len("behind_p"):]: v for name, (_t, v) in newest.items() if name.startswith("behind_p")}
    msgs = newest.get("behind_msgs", (None, None))[1]
    secs = newest.get("behind_s", (None, None))[1]
    parts = ", ".join(f"p{k} {v:g}" for k, v in sorted(behind.items(), key=lambda kv: int(kv[0])) if v is not None)
    st.note = (f"behind {msgs:g} messages ({parts}), {secs:g} s; " if msgs is not None else "") + \
        f"replayed {replayed:g}, rejected {rejected}"
    if last is None:
        st.health, st.note = "STALE", "no position committed yet; " + st.note
        return
    st.last_validity = last
    st.last_write_age = max(now - last, timedelta(0))
    st.lag = timedelta(seconds=secs) if secs is not None else None
    quiet = st.last_write_age > 2 * cfg.metrics_every
    st.health = ("STALE" if quiet else "LAGGING") if msgs else "OK"
