"""`scr.py status` for a stream section, read from the target (positions, rejects, stream_lag, scraper_metrics).

STALE: no position committed yet, or none for longer than two `metrics_every` while messages were
behind; LAGGING: messages behind; WARNING: messages rejected as dated in the future
within the last ahead.RECENT; OK otherwise. The note gives the group's messages behind, per
partition and in total, its seconds behind and how many processes report them (stream_lag, lag.py),
and the replays and rejects so far.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from scraper import db
from scraper.config import Settings
from scraper.runtime import metrics

from .ahead import REASON, RECENT
from .lag import LagBoard, totals
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
            future = conn.execute(sa.select(sa.func.count()).where(
                r.section == cfg.section, r.reason.like(f"{REASON}%"), r.time >= now - RECENT)).scalar()
            replayed = 0.0
            if sa.inspect(conn).has_table(metrics.TABLE):
                replayed = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(m.value), 0)).where(
                    m.section == cfg.section, m.name == "replayed")).scalar()
        lags = LagBoard(engine, cfg.section, cfg.metrics_every).current()
    finally:
        engine.dispose()
    msgs, secs = totals(lags)
    several = len({r.topic for r in lags}) > 1  # an earlier night still draining: name the topics
    parts = ", ".join((f"{r.topic}[{r.partition}]" if several else f"p{r.partition}") + f" {r.behind}" for r in lags)
    members = len({r.member for r in lags})
    st.note = (f"behind {msgs} messages ({parts}), {secs:g} s, {members} process{'es' if members > 1 else ''}; "
               if lags else "") + f"replayed {replayed:g}, rejected {rejected}"
    if last is None:
        st.health, st.note = "STALE", "no position committed yet; " + st.note
        return
    st.last_validity = last
    st.last_write_age = max(now - last, timedelta(0))
    st.lag = timedelta(seconds=secs) if lags else None
    quiet = st.last_write_age > 2 * cfg.metrics_every
    st.health = ("STALE" if quiet else "LAGGING") if msgs else "OK"
    if future:
        st.note = f"{future} messages rejected as dated in the future within {RECENT} (kept in stream_rejects); " \
            + st.note
        if st.health == "OK":
            st.health = "WARNING"
