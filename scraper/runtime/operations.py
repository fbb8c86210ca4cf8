"""What the loop needs besides the §4 rules, for unattended running: outage retries, sleep tuning,
self-metrics and catch-up progress — kept out of engine.py so the loop still reads like DESIGN.md §4.

The engine calls four hooks: `retry()` around each database operation, `propagated()` after a written
propagation, `round()` after each round of samples, and `idle()` for the sleep when nothing was found.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from scraper.runtime.metrics import MetricsWriter
from scraper.runtime.retry import Retrier, Stopped, checked, classify, reason
from scraper.runtime.progress import Progress
from scraper.core.tuning import SleepTuner

if TYPE_CHECKING:  # pragma: no cover
    from scraper.modes.scrape import Engine

log = logging.getLogger("scraper.operations")
T = TypeVar("T")


class Operations:
    def __init__(self, engine: "Engine"):
        self.engine = engine
        cfg = self.cfg = engine.cfg
        self.retrier = Retrier(cfg, engine.stop)
        self.tuner = SleepTuner.from_cfg(cfg)
        self.progress = Progress(cfg.progress_every.total_seconds())
        self.metrics: MetricsWriter | None = None
        if cfg.metrics:
            self.metrics = MetricsWriter(engine.target_engine, cfg.section, cfg.metrics_every.total_seconds())
            checked(cfg, "target", self.metrics.ensure_table)
        self._metrics_down = False

    # --- hooks called by the engine ---------------------------------------------------------------
    def retry(self, which: str, fn: Callable[..., T], *args, recovered: Callable[[], bool] | None = None,
              **kwargs) -> T | None:
        return self.retrier.call(which, fn, *args, recovered=recovered, **kwargs)

    def start(self) -> None:
        """Measure the lag once at start-up: decides between catch-up (progress shown) and live."""
        self.tune()

    def propagated(self) -> None:
        if self.tuner.propagated():
            self.tune()

    def round(self) -> None:
        if self.progress.due():  # position and entries cost a pass over the sources: only when shown
            self.progress.update(self.position(), self.entries())
        if self.metrics is not None and self.metrics.due():
            self.write_metrics()

    def idle(self) -> float:
        """Seconds to sleep after a round that found nothing new."""
        self.progress.finish(self.entries())
        return self.tuner.idle()

    def close(self, failed: bool = False) -> None:
        self.progress.finish(self.entries())
        if self.metrics is not None and not self.retrier.down and not failed:
            try:
                # a run that ended caught up knows its lag (none) without another source query
                self.write_metrics(lag=timedelta(0) if self.engine.summary.caught_up else None)
            except Stopped:
                pass  # a database went down during shutdown: these last counts are lost, nothing else

    # --- measurements -----------------------------------------------------------------------------
    def entries(self) -> int:
        return sum(r.entries for r in self.engine.readers)

    def position(self) -> datetime:
        """Reading position: the newest entry sampled (slowest source), else its cursor."""
        return min(sv[-1].t if len(sv) else sv.tcursor for sv in self.engine.svs)

    def _span(self, sv, reader) -> tuple[datetime | None, datetime | None]:
        """(where the vector reads next, the source's latest entry) in one query. An empty vector
        starts at its first entry at/after the cursor — the cursor itself is `timefloor`, possibly
        years before the source begins."""
        if len(sv):
            return sv[-1].t, self.retry("source", reader.latest_time)

        def both() -> tuple[datetime | None, datetime | None]:
            reader.queries += 1
            first = sa.func.min(sa.case((reader.dt >= sv.tcursor, reader.dt)))
            with reader.engine.connect() as conn:
                row = conn.execute(sa.select(first, sa.func.max(reader.dt))).one()
            # min(CASE ...) loses the column type on SQLite: parse like the column would
            return tuple(_as_datetime(v) for v in row)
        return self.retry("source", both)

    def lag(self) -> tuple[timedelta, datetime] | None:
        """(max over sources of latest - reading position, latest) or None when every source is empty."""
        worst: tuple[timedelta, datetime] | None = None
        for sv, reader in zip(self.engine.svs, self.engine.readers):
            at, latest = self._span(sv, reader)
            if latest is None:
                continue
            lag = latest - (at if at is not None else latest)
            if worst is None or lag > worst[0]:
                worst = (lag, latest)
        return worst

    def tune(self) -> None:
        measured = self.lag()
        if measured is None:
            return
        self.tuner.tune(measured[0])
        if self.tuner.catching_up:
            self.progress.start(measured[1] - measured[0], measured[1], self.entries())

    def write_metrics(self, lag: timedelta | None = None) -> None:
        """Best effort: a target that is down only delays the metrics (counters carry over)."""
        assert self.metrics is not None
        engine = self.engine
        try:
            if lag is None:
                measured = self.lag()
                lag = measured[0] if measured else None
            gauges = {"lag_s": max(lag, timedelta(0)).total_seconds() if lag is not None else None,
                      "sleep_s": self.tuner.sleep}
            totals = {"propagations": engine.summary.propagations, "entries_read": self.entries(),
                      "queries": sum(r.queries for r in engine.readers), "errors": self.retrier.errors,
                      "late": sum(r.late for r in engine.readers)}
            self.metrics.write(gauges, totals)
            if self._metrics_down:
                log.warning("metrics: writing to %s works again", self.metrics.table.name)
                self._metrics_down = False
        except DBAPIError as exc:
            kind = classify(exc)
            if kind == "permission":
                raise self.cfg.error("metrics", f"permission denied writing {self.metrics.table.name}: "
                                     f"{reason(exc)} (grant INSERT or set metrics = False)") from None
            if kind != "transient":
                raise
            self.retrier.errors += 1
            self.metrics.postpone()
            if not self._metrics_down:
                log.warning("metrics: cannot write (%s); will retry next period", reason(exc))
                self._metrics_down = True


def _as_datetime(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
