"""Self-metrics of a running section, written into the target DB for Grafana.

One narrow table `scraper_metrics(time, section, name, value)` serves every section and every metric, so
a Grafana panel is one WHERE clause and adding a metric never needs a migration. Rows are written every
`metrics_every` of real time (default 1 min) and once at exit, in their own short transaction — never
per sample, and never inside a propagation's transaction, so metrics cannot slow down or break the
conditions data. Counters are written as the increase since the previous row (per-period counts),
which survives restarts and sums correctly over any time range; gauges are the value at that moment.

| name         | kind    | meaning                                                              |
|--------------|---------|----------------------------------------------------------------------|
| lag_s        | gauge   | source latest date_time - newest sampled entry, max over sources (s) |
| sleep_s      | gauge   | the tuned sleep used when idle (s)                                   |
| future       | gauge   | source entries dated beyond now + future_tolerance: not read yet     |
| failed       | gauge   | 1 when the run ended on an error (written as it ends), else 0        |
| propagations | counter | validity records written                                             |
| entries_read | counter | source entries sampled                                               |
| queries      | counter | source queries issued                                                |
| errors       | counter | failed database attempts (outages; each retry counts)                |
| late         | counter | source entries committed behind the cursor: reported, not propagated |
| wrong_kind   | counter | values of the wrong kind (text, NaN, ±inf, out of range) read as NULL |

Other modes write their own names into the same table (the decimator: `deleted`, `kept`, `late`,
`horizon`, `cursor`; the bridge: `points`, ...).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from scraper.db import DateTime

log = logging.getLogger("scraper.metrics")

TABLE = "scraper_metrics"
GAUGES = ("lag_s", "sleep_s", "future", "failed")
COUNTERS = ("propagations", "entries_read", "queries", "errors", "late", "wrong_kind")
NAMES = GAUGES + COUNTERS


def metrics_table(metadata: sa.MetaData | None = None) -> sa.Table:
    return sa.Table(
        TABLE, metadata or sa.MetaData(),
        sa.Column("time", DateTime, nullable=False),
        sa.Column("section", sa.String(64), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.Float),
        sa.Index(f"{TABLE}_section_name_time", "section", "name", "time"),
    )


class MetricsWriter:
    """Turns cumulative counters into per-period rows every `every` seconds."""

    def __init__(self, engine: Engine, section: str, every: float):
        self.engine, self.section, self.every = engine, section, every
        self.table = metrics_table()
        self._last_totals: dict[str, float] = {}
        self._last_write = time.monotonic()

    def ensure_table(self) -> None:
        """The metrics table is ours, not a conditions table: created on demand (needs CREATE once)."""
        with self.engine.begin() as conn:
            self.table.create(conn, checkfirst=True)

    def due(self) -> bool:
        return time.monotonic() - self._last_write >= self.every

    def rows(self, gauges: Mapping[str, float | None], totals: Mapping[str, float],
             when: datetime | None = None) -> list[dict]:
        """Gauges as they are, counters as the increase since the last committed write. Each mode
        reports its own names (a decimator's `deleted`, a bridge's `points`): one table serves all."""
        when = when or datetime.now(timezone.utc).replace(tzinfo=None)  # µs: periods may be sub-second
        out = [{"time": when, "section": self.section, "name": n, "value": v} for n, v in gauges.items()]
        out += [{"time": when, "section": self.section, "name": n, "value": v - self._last_totals.get(n, 0.0)}
                for n, v in totals.items()]
        return out

    def write(self, gauges: Mapping[str, float | None], totals: Mapping[str, float]) -> None:
        """One short transaction; the counters' baseline moves only once the rows are committed, so a
        failed write (target down) is simply included in the next period."""
        rows = self.rows(gauges, totals)
        with self.engine.begin() as conn:
            conn.execute(self.table.insert(), rows)
        self._last_totals = {n: float(v) for n, v in totals.items()}
        self._last_write = time.monotonic()

    def postpone(self) -> None:
        self._last_write = time.monotonic()


def failed(newest: Mapping[str, tuple[datetime, float | None]]) -> str:
    """'' unless the newest metrics (latest()) say the last run ended on an error: then what to show."""
    when, value = newest.get("failed", (None, None))
    return f"the last run ended on an error at {when:%Y-%m-%d %H:%M:%S} UTC" if value else ""


def latest(engine: Engine, section: str) -> dict[str, tuple[datetime, float | None]]:
    """The newest value of each metric of a section (for `scr.py status`); {} without a metrics table."""
    if not sa.inspect(engine).has_table(TABLE):
        return {}
    m = metrics_table().c
    newest = (sa.select(m.name, sa.func.max(m.time).label("t")).where(m.section == section)
              .group_by(m.name).subquery())
    stmt = (sa.select(m.name, m.time, m.value)
            .join(newest, sa.and_(m.name == newest.c.name, m.time == newest.c.t))
            .where(m.section == section))
    with engine.connect() as conn:
        return {name: (t, value) for name, t, value in conn.execute(stmt)}
