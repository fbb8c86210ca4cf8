"""Sleep auto-tuning: no sleeping while behind, about one heartbeat once caught up.

Lag is measured in DB time as the source's latest date_time minus the newest entry already sampled
(the reading position; `tcursor` itself stays at the last propagation while unchanged entries are
sampled, so it would report up to `maxage` of lag for a scraper that is perfectly up to date), and
expressed in *effective heartbeats* `heartbeat * (offset + 1)`: the DB time between two entries the
scraper actually reads.

The loop never sleeps while it finds entries, so a scraper that is far behind reads in batches at full
speed. It sleeps only when a round found nothing new; that sleep is tuned to a fraction of the
effective heartbeat, so a new entry is picked up well within one heartbeat of its arrival (steady-state
lag under two heartbeats) while an idle scraper issues only a few queries per heartbeat.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from scraper.config import Settings

log = logging.getLogger("scraper.tune")

FAR_BEHIND = 2.0  # effective heartbeats: more lag than this is catch-up territory
STEADY_FRACTION = 0.75  # of an effective heartbeat: poll a bit faster than the source writes


def human(td: timedelta) -> str:
    """`0:09:50` style, whole seconds unless the duration is sub-second (tests use 0.2 s heartbeats)."""
    secs = td.total_seconds()
    whole = str(timedelta(seconds=int(secs)))
    frac = round(secs - int(secs), 3)
    if secs < 10 and frac:
        return whole + f"{frac:.3f}".lstrip("0").rstrip("0")
    return str(timedelta(seconds=round(secs)))


class SleepTuner:
    """Decides how long the loop sleeps when a round found no new source entry."""

    def __init__(self, heartbeat: timedelta, offset: int, sleep: timedelta, every: int = 1,
                 catchup_every: float = 10.0):
        self.effective = heartbeat * (offset + 1)
        self.sleep = sleep.total_seconds()  # the configured initial sleep, until the first tune
        self.every = max(1, every)
        self.catchup_every = catchup_every
        self.catching_up = False
        self.lag: timedelta | None = None
        self._propagations = 0
        self._tuned = float("-inf")

    @classmethod
    def from_cfg(cls, cfg: Settings) -> "SleepTuner":
        return cls(cfg.heartbeat, cfg.offset, cfg.sleep, cfg.tunesleepmod, cfg.progress_every.total_seconds())

    @property
    def steady_sleep(self) -> float:
        return self.effective.total_seconds() * STEADY_FRACTION

    def heartbeats(self, lag: timedelta) -> float:
        eff = self.effective.total_seconds()
        return lag.total_seconds() / eff if eff > 0 else float("inf")

    def propagated(self) -> bool:
        """Count a propagation; True when this one is due for tuning: every `tunesleepmod`-th, but at
        most once per effective heartbeat of real time — measuring the lag costs a source query, and a
        catch-up writing thousands of propagations a second needs no more than the sleep it already has."""
        self._propagations += 1
        if self._propagations % self.every:
            return False
        wait = self.effective.total_seconds()
        if self.catching_up:  # the loop does not sleep anyway; only the progress end is refreshed
            wait = max(wait, self.catchup_every)
        return time.monotonic() - self._tuned >= wait

    def tune(self, lag: timedelta) -> float:
        """Adopt the sleep for a measured lag; logs one line like the original framework's."""
        lag = max(lag, timedelta(0))
        self.lag = lag
        n = self.heartbeats(lag)
        far = n > FAR_BEHIND
        sleep = 0.0 if far else self.steady_sleep
        log.info("tune detects maxlag %s behind namely %d intervals of %s ... %s sleep %s",
                 human(lag), int(n), human(self.effective), "catching up," if far else "caught up,",
                 human(timedelta(seconds=sleep)))
        self.catching_up, self.sleep = far, sleep
        self._tuned = time.monotonic()
        return sleep

    def idle(self) -> float:
        """A round found nothing beyond the cursor: we are caught up whatever was measured before."""
        if self.catching_up:
            log.info("tune: caught up with the source, sleep %s", human(timedelta(seconds=self.steady_sleep)))
            self.catching_up, self.sleep = False, self.steady_sleep
        if self.lag is not None:
            self.lag = timedelta(0)
        return self.sleep  # before the first tune: the configured `sleep`
