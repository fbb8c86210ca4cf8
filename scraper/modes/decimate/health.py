"""What `scr.py status` shows for a decimator section: its cursor, the horizon now, and health.

Read from the database alone (the cursor table and the thinned table), so it works while the
decimator runs and after it died. LAG is how far the cursor trails the horizon; a pass runs every
`sleep` and the horizon moves one slice per `every`, so a healthy decimator trails by at most about
`sleep + every`; twice that is LAGGING. No cursor yet: NEVER RUN. A cursor past the horizon of the
section's `keep` was left by a run with a shorter one (`--keep 10m` in `make demo`): the note says
which, from the keep the cursor table records.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from scraper import db
from scraper.config import Settings
from scraper.config.plugins import load_regime
from scraper.core.timezones import Clock
from scraper.core.units import format_duration
from scraper.core.wallclock import Bound
from scraper.runtime import metrics

from .slices import Slicing
from .statements import Statements
from .tables import CURSOR_TABLE, cursor_table, read_cursor, table_spec


def fill(cfg: Settings, st: Any, now: datetime) -> None:
    """Set mode-specific fields of a runtime.status.SectionStatus."""
    regime = load_regime(cfg, need_target=False)
    engine = db.connect(cfg, "source")
    try:
        spec = table_spec(engine, cfg, regime.sources[0])
        slicing = Slicing(Clock(cfg.source_tz), cfg.every, cfg.keep)
        with engine.connect() as conn:
            bound = Bound.of(cfg)
            newest = conn.execute(Statements(spec, slicing, cfg.keep_rule, engine.dialect.name,
                                                  cfg.timefloor).span(bound())[1]).scalar()
            cur = read_cursor(conn, cursor_table(), spec.name) if db.table_exists(engine, CURSOR_TABLE) else None
            updated = None
            if cur is not None:
                t = cursor_table()
                updated = conn.execute(t.select().with_only_columns(t.c.updated_utc)
                                       .where(t.c.tablename == spec.name)).scalar()
        newest_metrics = metrics.latest(engine, cfg.section)
    finally:
        engine.dispose()
    horizon = slicing.horizon(newest, bound.now()) if newest is not None else None
    show = (lambda t: f"{t:%Y-%m-%d %H:%M:%S} UTC" if t is not None else "-")
    st.failed = metrics.failed(newest_metrics)
    notes = [f"{spec.name}: cursor {show(cur.until if cur else None)}, horizon {show(horizon)}"]
    if newest_metrics:
        deleted = newest_metrics.get("deleted", (None, None))[1]
        late = newest_metrics.get("late", (None, None))[1]
        notes.append(f"last period: deleted {deleted:g}, late {late:g}" if deleted is not None and late is not None
                     else "metrics written")
    if cur is not None and horizon is not None and cur.until > horizon:
        notes.insert(1, _past_horizon(cur.keep_s, cfg.keep))
    st.note = "; ".join(notes)
    if cur is None:
        st.health = "NEVER RUN"
        st.note = "not thinned yet; " + st.note
        return
    st.lag = max(horizon - cur.until, timedelta(0)) if horizon is not None else timedelta(0)
    st.last_write_age = max(now - updated, timedelta(0)) if updated is not None else None
    st.health = "LAGGING" if st.lag > 2 * (cfg.sleep + cfg.every) else "OK"


def _past_horizon(keep_s: int | None, keep: timedelta) -> str:
    """Why the cursor is ahead of the horizon: thinning never goes past the horizon it ran with."""
    if keep_s is None:
        return f"cursor past the horizon: an earlier run kept less than keep = {format_duration(keep)}"
    return (f"cursor past the horizon: last thinned with keep = {format_duration(timedelta(seconds=keep_s))}, "
            f"this section's keep is {format_duration(keep)}")
