"""Clean shutdown: SIGTERM/SIGINT or a sentinel file finish the current propagation, then exit 0.

The sentinel exists for operators without a process manager (or without the right to signal another
user's process): `touch var/PLEASE-EXIT-adtemp_scraper` stops that section at the next sample.

The stop request is a `threading.Event` so the engine, the faker and the outage backoff only ever ask
`stop.is_set()` / `stop.wait(t)`. This subclass also notices the sentinel: `is_set()` looks at the file
system at most every POLL seconds (a catch-up samples tens of thousands of entries per second), and
`wait()` sleeps in slices of POLL so a long tuned sleep still ends promptly.

A stop must not wait for a statement either (a SLEEP() in an aggregate_filter, a lock wait, a scan of
hours): `on_signals()` starts a thread that notices a signal the moment it arrives (through the wakeup fd
of Python's signal module: the main thread may be inside a C call that does not return) and the
sentinel, and GRACE seconds after a stop was requested cancels whatever statement still runs
(db/cancel.py), again every second until the process has ended.
"""
from __future__ import annotations

import logging
import os
import select
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from scraper.config import Settings

log = logging.getLogger("scraper")
POLL = 0.25  # seconds
GRACE = 2.0  # seconds a stopping run may finish its statement (a commit, say) before it is cancelled
# seconds after a stop request at which a process still waiting on a call (a server that does not answer
# even a cancel) exits anyway: a section ends within 5 s of SIGTERM. Safe as SIGKILL is: what was not
# committed is rolled back, and the target is the bookmark.
DEADLINE = 4.0
SIGNALS = (signal.SIGTERM, signal.SIGINT)


def sentinel_path(cfg: Settings) -> Path | None:
    """`exit_sentinel` with `{section}` filled in, relative to the config file; None when disabled."""
    text = (cfg.exit_sentinel or "").strip()
    if not text or text == "None":
        return None
    path = Path(text.replace("{section}", cfg.section))
    return path if path.is_absolute() else cfg.base_dir / path


class StopRequest(threading.Event):
    def __init__(self, sentinel: Path | None = None):
        super().__init__()
        self.sentinel = sentinel
        self.reason: str | None = None
        self._checked = 0.0
        self._check_lock = threading.Lock()
        self._request_lock = threading.Lock()
        self._signalled: int | None = None  # set by the signal handler (see on_signals)
        self._deadline: float | None = None  # armed by on_signals: the process exits this long after a stop

    def request(self, reason: str) -> None:
        """Set first, log after: the stop is seen at the next sample even while the log is slow."""
        with self._request_lock:
            first = not super().is_set()
            if first:
                self.reason = reason
                self.set()
        if first:
            log.info("%s: stopping after the current sample", reason)
            if self._deadline is not None:
                timer = threading.Timer(self._deadline, self._overdue)
                timer.daemon = True
                timer.start()

    def _overdue(self) -> None:
        """Still running DEADLINE after the stop request: a database call does not return (its server
        stopped answering, even to a cancel). End the process without it, as SIGKILL would."""
        log.warning("a database call has not returned %.1fs after the stop request: exiting without it "
                    "(nothing uncommitted is kept; the next start resumes from the target)", self._deadline)
        for handler in [*logging.getLogger().handlers, sys.stdout, sys.stderr]:
            try:
                handler.flush()
            except Exception:  # noqa: BLE001 - a broken log must not keep the process alive
                pass
        os._exit(0)

    def is_set(self) -> bool:
        if super().is_set():
            return True
        if self._signalled is not None:
            self.request(f"received {signal.Signals(self._signalled).name}")
            return True
        if self.sentinel is not None:
            now = time.monotonic()
            if now - self._checked >= POLL and self._check_lock.acquire(blocking=False):
                self._checked = now
                found = self.sentinel.exists()
                self._check_lock.release()
                if found:
                    # Consumed, so that the next start (after an upgrade, say) runs normally.
                    self.sentinel.unlink(missing_ok=True)
                    self.request(f"found sentinel {self.sentinel}")
                    return True
        return False

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = POLL if deadline is None else min(POLL, deadline - time.monotonic())
            if left <= 0:
                return False
            super().wait(left)
        return True

    def on_signals(self, cancel: Callable[[], int], signals: tuple[int, ...] = SIGNALS) -> None:
        """From the main thread: `signals` become stop requests, noticed on a thread of their own.

        The Python handler only stores the signal number: it runs in the main thread between two
        bytecodes, possibly inside `wait()` while that holds the Event's (non-reentrant) lock, so
        requesting the stop from there could wait for that lock forever (a live scraper once slept
        through SIGTERM that way). The watcher thread hears the signal through the wakeup fd (set
        first, so no signal handled by Python can miss it) and requests the stop; `is_set()` also
        looks at the stored number."""
        self._deadline = DEADLINE
        read, write = os.pipe()
        os.set_blocking(write, False)
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        for signum in signals:
            signal.signal(signum, self._note)
        thread = threading.Thread(target=self._watch, args=(read, set(signals), cancel),
                                  name="scraper-stop", daemon=True)
        thread.start()

    def _note(self, signum: int, _frame: object) -> None:
        self._signalled = signum

    @staticmethod
    def finished(signals: tuple[int, ...] = SIGNALS) -> None:
        """The process's work is over (its exit status decided): from now on ignore `signals`. While
        the interpreter shuts down it resets Python-handled signals to their default action, so a
        SIGTERM arriving in those last milliseconds would turn a clean exit 0 into death by signal;
        ignored ones it leaves alone. Only for a process about to exit: an ignored signal stays
        ignored in every program it starts."""
        for signum in signals:
            signal.signal(signum, signal.SIG_IGN)

    def _watch(self, fd: int, signals: set[int], cancel: Callable[[], int]) -> None:
        since: float | None = None
        cancelled = 0.0
        while True:
            ready, _, _ = select.select([fd], [], [], POLL)
            if ready:
                data = os.read(fd, 64)
                if not data:  # the wakeup fd was closed (a program calling cli.main() is done): no signals to hear
                    os.close(fd)
                    return
                for signum in data:
                    if signum in signals:
                        self.request(f"received {signal.Signals(signum).name}")
            if not self.is_set():
                continue
            now = time.monotonic()
            since = since if since is not None else now
            if now - since >= GRACE and now - cancelled >= 1.0:
                cancelled = now
                if cancel():
                    log.info("cancelled the statement(s) still running %.0fs after the stop request", now - since)
