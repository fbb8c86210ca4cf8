"""The liveness watch: a database that stops answering is an outage, found within `hang_after`.

A stopped server (SIGSTOP, a frozen VM) or a network black hole refuses nothing and raises nothing: a
call on it just waits, and the driver's own limits (db/limits.py) are set long enough for the longest
legitimate statement. So a call of the retrier that has run for a third of `hang_after` makes the watch
ask the server something trivial on a fresh connection (limits.answers, within a quarter of
`hang_after`, at most 10 s). A server that answers is only slow: the call goes on. One that does not is
down: the retrier logs it (once, like any outage), every connection to it is severed so the waiting call
fails now, and the retrier's backoff takes over until the server answers again ("back up").

The watch is one daemon thread per retrier, started by the first call and ending once no call has
run for a while, so a library user running sections one after another keeps no thread behind.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, TypeVar

from scraper.db import limits, show

log = logging.getLogger("scraper.outage")
T = TypeVar("T")
IDLE_S = 5.0  # the thread ends after this long without any call


class Watch:
    """Calls in progress (per thread: which database, since when) and the thread that watches them."""

    def __init__(self, hang_after: float, hung: Callable[[str, str], None]):
        self.hang_after = hang_after
        self.probe_after = hang_after / 3
        self.probe_timeout = min(max(hang_after / 4, 1.0), 10.0)
        self.tick = min(max(hang_after / 12, 0.05), 1.0)
        self._hung = hung
        # thread -> (database, since): each thread sets and clears only its own key, an atomic dict
        # operation, so a call takes no lock (a catch-up makes ~10 000 a second); the watch reads copies
        self._calls: dict[int, tuple[str, float]] = {}
        self._lock = threading.Lock()  # starting and ending the thread
        self._thread: threading.Thread | None = None

    def run(self, which: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """fn(*args, **kwargs), watched as a call on database `which`."""
        ident = threading.get_ident()
        calls = self._calls
        outer = calls.get(ident)  # a call made inside another one: watched, then the outer again
        calls[ident] = (which, time.monotonic())
        if self._thread is None:  # set before this read: a watch ending now sees the call (_run)
            self._start()
        try:
            return fn(*args, **kwargs)
        finally:
            if outer is None:
                del calls[ident]
            else:
                calls[ident] = outer

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="scraper-liveness", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        idle_since = time.monotonic()
        probed: dict[int, tuple[float, float]] = {}  # thread -> (since of the call probed, when)
        while True:
            time.sleep(self.tick)
            now = time.monotonic()
            calls = dict(self._calls)
            if calls:
                idle_since = now
            elif now - idle_since >= IDLE_S:
                with self._lock:
                    self._thread = None
                if not self._calls:
                    return
                with self._lock:  # a call began meanwhile, and may have seen this thread still there
                    if self._thread is not None:
                        return  # it started a watch of its own
                    self._thread = threading.current_thread()
                continue
            for gone in probed.keys() - calls.keys():
                del probed[gone]
            for ident, (which, since) in calls.items():
                waited = now - since
                last = probed.get(ident)
                at = last[1] if last is not None and last[0] == since else since
                if waited >= self.probe_after and now - at >= self.probe_after:
                    probed[ident] = (since, now)
                    self._check(which, waited)

    def _check(self, which: str, waited: float) -> None:
        engine = limits.engine_of(which)
        if engine is None:
            return
        why = limits.answers(engine, self.probe_timeout)
        if why is None:
            log.debug("%s DB: a call has run %.0fs; the server answers, so it is only slow", which, waited)
            return
        self._hung(which, f"{show(engine.url)} does not answer: a call has waited {waited:.0f}s, a new "
                          f"connection got {why}")
        limits.sever_all(which, engine)
