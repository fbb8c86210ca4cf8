"""Catch-up progress: a bar on a terminal, a plain log line every `progress_every` otherwise.

Catching up a month of DCS data takes minutes; an operator watching wants to know it moves and when
it ends, while a log file (supervisord) wants one line per event, not carriage returns. No dependency:
the bar is one `\\r`-rewritten line on stderr, redrawn at most 10 times a second (or once per `every`
when that is shorter: a test that sets it below any round's duration sees one redraw per round, a count
fixed by its data rather than by the machine's speed).
"""
from __future__ import annotations

import logging
import sys
import time
from datetime import datetime, timedelta
from typing import TextIO

from scraper.core.tuning import human

log = logging.getLogger("scraper.progress")
REDRAW = 0.1  # seconds between bar redraws
WIDTH = 30


class Progress:
    def __init__(self, every: float, stream: TextIO | None = None, tty: bool | None = None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every = every
        self.redraw = min(REDRAW, every)
        self.active = False
        self._begin = self._end = None
        self._t0 = self._shown = 0.0
        self._entries0 = 0

    def start(self, begin: datetime, end: datetime, entries: int) -> None:
        """Catch-up from DB time `begin` to the source's latest entry `end` (re-started on each tune)."""
        if not self.active:
            self._t0, self._entries0 = time.monotonic(), entries
            self._shown = self._t0 if not self.tty else 0.0  # first log line after `every`, bar at once
            self._begin = begin
        self._end = max(end, begin)
        self.active = True

    def fraction(self, position: datetime) -> float:
        span = (self._end - self._begin).total_seconds()
        done = (position - self._begin).total_seconds()
        return 1.0 if span <= 0 else min(1.0, max(0.0, done / span))

    def text(self, position: datetime, entries: int) -> str:
        frac = self.fraction(position)
        elapsed = time.monotonic() - self._t0
        eta = timedelta(seconds=elapsed * (1 - frac) / frac) if frac > 0 else None
        return (f"catch-up {frac:4.0%} {entries - self._entries0} entries, DB time {position:%Y-%m-%d %H:%M:%S} "
                f"of {self._end:%Y-%m-%d %H:%M:%S}, ETA {human(eta) if eta is not None else '?'}")

    def due(self) -> bool:
        return self.active and time.monotonic() - self._shown >= (self.redraw if self.tty else self.every)

    def update(self, position: datetime, entries: int) -> None:
        if not self.due():
            return
        self._shown = time.monotonic()
        if self.tty:
            frac = self.fraction(position)
            bar = "#" * int(WIDTH * frac) + "-" * (WIDTH - int(WIDTH * frac))
            self.stream.write(f"\r\x1b[K[{bar}] {self.text(position, entries)}")
            self.stream.flush()
        else:
            log.info(self.text(position, entries))

    def finish(self, entries: int) -> None:
        if not self.active:
            return
        self.active = False
        took = human(timedelta(seconds=time.monotonic() - self._t0))
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        log.info("catch-up done: %d entries in %s", entries - self._entries0, took)
