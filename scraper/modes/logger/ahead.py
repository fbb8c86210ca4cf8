"""Readings dated ahead of the wall clock: refused whole, like any batch that cannot be trusted.

A bridge whose clock jumped a day ahead stamps its readings tomorrow. Written, they would put
tomorrow in the target: the newest reading (Grafana's last value, `status`'s LAST VALIDITY) would be
one that has not happened, and the unique key (time, channel) would later meet the real readings of
that time. The database modes hold such entries back until the clock reaches them, because their
source keeps them; a device does not answer the same poll again, and a clock a day ahead would keep
a day of readings waiting. So a poll (or a result file) with one reading dated beyond now (UTC) +
`future_tolerance` is refused whole and kept in `rejected` with the reason, like a malformed one:
nothing of it is written, it is counted, logged once per spell with the reading's time, and the
`future` gauge in `scraper_metrics` makes `scr.py status` say WARNING while the spell lasts.

The bound is `scraper.core.wallclock.Bound` (its clock `now_utc`, the one reading tests can move), in UTC.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from scraper.core import wallclock

from .batches import Batch

log = logging.getLogger("scraper.logger")


def _show(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".")


class Ahead:
    """The bound on a batch's times, and the spell of batches refused for passing it."""

    def __init__(self, where: str, tolerance: timedelta):
        self.where, self.tolerance = where, tolerance
        self.bound = wallclock.Bound("UTC", tolerance)  # the database modes' bound, read in UTC
        self.spell = 0  # batches refused in the current spell (the `future` gauge); 0 once one is in time

    def reason(self, batch: Batch) -> str | None:
        """Why `batch` is not data yet (its newest reading is beyond now + future_tolerance), else None."""
        newest = max((row[0] for rows in batch.rows.values() for row in rows), default=None)
        if newest is None:
            return None
        limit = self.bound()
        if newest <= limit.replace(tzinfo=timezone.utc).timestamp():
            return None
        now = limit - self.tolerance
        return (f"a reading dated {_show(newest)} UTC is in the future (now {now:%Y-%m-%d %H:%M:%S} UTC + "
                f"future_tolerance {self.tolerance})")

    def refused(self, source: str, why: str, kept: object, say: bool = True) -> None:
        """One line when a spell begins (every batch of it is kept and counted all the same); `say`
        False: the caller logs it (a result file, logged once as it is set aside)."""
        if not self.spell and say:
            log.warning("%s: %s: refused whole, kept in %s; every batch dated ahead of the clock is refused "
                        "so until the readings are in time again", source, why, kept)
        self.spell += 1

    def in_time(self) -> None:
        """A batch within the bound ends the spell: one line, how many were refused."""
        if self.spell:
            log.info("%s: readings are in time again after %d batch(es) refused as dated in the future",
                     self.where, self.spell)
            self.spell = 0
