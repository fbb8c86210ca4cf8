"""Entries dated ahead of the wall clock: not data yet, but never silently invisible.

Every statement that reads entries stops at the wall-clock bound (core/wallclock.py). What lies beyond
it is counted here, by one index range at the top of the time index (the future rows only, so it costs
what they do, not the table), at start-up and then at most every `every` seconds: each such entry is
logged once, with its id and time, the first time it is seen, and the count goes to the run summary
and to `scraper_metrics` (`future`), from which `scr.py status` shows a WARNING.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from scraper.core.wallclock import Bound

log = logging.getLogger("scraper.future")
SHOWN = 5  # entries named one by one per poll; the rest in one line


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class FutureWatch:
    """The entries of one table beyond the bound: `count` as of the last poll, each logged once."""

    def __init__(self, engine: Engine, name: str, dt: sa.ColumnElement, id_: sa.ColumnElement | None,
                 bound: Bound, every: float = 10.0, guard: Callable[..., Any] = _call):
        self.engine, self.name, self.dt, self.id, self.bound = engine, name, dt, id_, bound
        self.every, self.guard = every, guard
        self.count = 0
        self.queries = 0
        self._seen: set[Any] = set()
        self._last = float("-inf")

    def poll(self, force: bool = False) -> int:
        """Count (and log what is new) unless the last poll is younger than `every` seconds."""
        if not force and time.monotonic() - self._last < self.every:
            return self.count
        self._last = time.monotonic()
        bound = self.bound()
        self.count, first = self.guard(self._look, bound)
        new = [(i, t) for i, t in first if (i, t) not in self._seen]
        for i, t in new[:SHOWN]:
            log.warning("%s: entry %s dated %s is ahead of the clock (%s now %s + future_tolerance %s): not "
                        "data yet, it is read in its place once the clock reaches it", self.name,
                        f"id={i}" if i is not None else "", _show(t), self.bound.tzname,
                        f"{bound - self.bound.tolerance:%Y-%m-%d %H:%M:%S}", self.bound.tolerance)
        if len(new) > SHOWN:
            log.warning("%s: %d entries are ahead of the clock in all (the next one dated %s)", self.name,
                        self.count, _show(first[0][1]))
        self._seen.update(new)
        return self.count

    def _look(self, bound: datetime) -> tuple[int, list[tuple[Any, datetime]]]:
        self.queries += 2
        ahead = self.dt > bound
        with self.engine.connect() as conn:
            count = int(conn.execute(sa.select(sa.func.count()).where(ahead)).scalar() or 0)
            if not count:
                return 0, []
            cols = [self.id if self.id is not None else sa.null(), self.dt]
            rows = conn.execute(sa.select(*cols).where(ahead).order_by(self.dt).limit(50)).all()
        return count, [(i, t) for i, t in rows]


def _show(t: Any) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S.%f}".rstrip("0").rstrip(".") if isinstance(t, datetime) else str(t)
