"""Messages dated ahead of the wall clock: not data yet, rejected like an invalid message.

An alert stamped tomorrow (a camera whose clock jumped, a producer's typo) would put tomorrow in the
target: the newest observation would be one that has not happened. The database modes leave such
entries in their source until the clock reaches them; a stream cannot: re-reading one message later
would stall its partition, and one bad message must never stall a section. So a message whose time
(the regime's `time(message)`, e.g. ZTF's candidate jd) is beyond now (UTC) + `future_tolerance` goes
to stream_rejects with the reason "dated in the future", its position consumed like any reject's
(exactly once stays). It is counted (`future` in the summary, `future_rejected` in scraper_metrics),
logged once per spell with its key and time, and `scr.py status` says WARNING while stream_rejects
holds such messages rejected within the last RECENT (health.py).

The bound is `scraper.core.wallclock.Bound` (its clock `now_utc`, the one reading tests can move), in UTC.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from scraper.core import wallclock

log = logging.getLogger("scraper.stream")
REASON = "dated in the future"
RECENT = timedelta(hours=1)  # status: WARNING while messages were rejected as dated ahead this recently


class Ahead:
    """The bound on a message's time, and the spell of messages rejected for passing it. A spell ends
    when a metrics period passes with none: one line when it begins and one when it ends, however
    many messages of it come, interleaved with in-time ones or not."""

    def __init__(self, tolerance: timedelta, quiet: timedelta):
        self.tolerance, self.quiet = tolerance, max(quiet.total_seconds(), 1.0)
        self.bound = wallclock.Bound("UTC", tolerance)  # the database modes' bound, read in UTC
        self.spell = 0
        self._last = 0.0

    def reason(self, when: datetime | None) -> str | None:
        """Why a message dated `when` (naive UTC) is not data yet, else None."""
        if when is None:
            return None
        limit = self.bound()
        if when <= limit:
            return None
        now = limit - self.tolerance
        return (f"{REASON}: {when:%Y-%m-%d %H:%M:%S} UTC is beyond now {now:%Y-%m-%d %H:%M:%S} UTC + "
                f"future_tolerance {self.tolerance}")

    def seen(self, where: str, key: tuple, when: datetime) -> None:
        if not self.spell:
            log.warning("%s: message %s dated %s UTC is in the future (beyond now + future_tolerance %s): "
                        "rejected, kept in stream_rejects; further ones counted", where,
                        ", ".join(map(str, key)), f"{when:%Y-%m-%d %H:%M:%S}", self.tolerance)
        self.spell += 1
        self._last = time.monotonic()

    def tick(self) -> None:
        """A metrics period with none ends the spell (one line)."""
        if self.spell and time.monotonic() - self._last > self.quiet:
            log.info("no message dated in the future for %gs after %d rejected as such", self.quiet, self.spell)
            self.spell = 0
