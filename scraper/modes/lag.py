"""How far behind its sources a scraper is, and what that means for sleeping and progress.

Lag = the source's latest date_time - the newest entry sampled, max over the regime's sources. It is
measured once at start-up and after every `tunesleepmod`-th propagation; the sleep tuner turns it into
the idle sleep, and while far behind the runner shows catch-up progress. What lies beyond the wall
clock's bound is not data yet (core/wallclock.py): counted here, never part of the lag.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable, Sequence

from scraper.core.sourcevector import SourceVector
from scraper.core.tuning import SleepTuner
from scraper.runtime.runner import Runner
from scraper.sources.sql.reader import SourceReader


class LagWatch:
    def __init__(self, runner: Runner, svs: Callable[[], Sequence[SourceVector]],
                 readers: Sequence[SourceReader]):
        self.runner, self._svs, self.readers = runner, svs, readers
        self.tuner = SleepTuner.from_cfg(runner.cfg)
        self._future = [r.future_watch() for r in readers]  # entries dated ahead of the wall clock
        self.ahead(force=True)

    def ahead(self, force: bool = False) -> int:
        """Source entries dated beyond now + future_tolerance (not data yet): counted at most every
        few seconds unless `force`, each logged once (sources/sql/future.py)."""
        return sum(w.poll(force) for w in self._future)

    def entries(self) -> int:
        return sum(r.entries for r in self.readers)

    def position(self) -> datetime:
        """Reading position: the newest entry sampled (slowest source), else its cursor."""
        return min(sv[-1].t if len(sv) else sv.tcursor for sv in self._svs())

    def lag(self) -> tuple[timedelta, datetime] | None:
        """(max over sources of latest - reading position, latest) or None when every source is empty."""
        worst: tuple[timedelta, datetime] | None = None
        for sv, reader in zip(self._svs(), self.readers):
            if len(sv):
                at, latest = sv[-1].t, self.runner.retry("source", reader.latest_time)
            else:
                at, latest = self.runner.retry("source", reader.span, sv.tcursor)
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
            self.runner.catching_up(measured[1] - measured[0], measured[1], self.entries())

    def propagated(self) -> None:
        if self.tuner.propagated():
            self.tune()
