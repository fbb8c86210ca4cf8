"""Database outages during a run: retry with capped exponential backoff; permission errors end the run.

A scraper runs unattended for months, so a MariaDB restart or a network blip must not kill it (nor make
supervisord restart-loop it): the failed operation is retried until the database is back. What an
operator must fix instead — a user without INSERT, a wrong password — is not an outage: retrying would
hide it, so it becomes a one-line OperatorError (exit 2).

Only one log line per state change (down / back up) is written, never one per retry, so a night-long
outage leaves two lines in the log rather than thousands.

At start-up an unreachable database is still an operator mistake (exit 2, see db.connect): in practice it
is a typo in the URL or ~/.my.cnf, and supervisord must not restart-loop on it. Once a run has connected,
the same symptom means an outage and is retried.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from sqlalchemy.exc import DBAPIError

from scraper.config import Settings
from scraper.errors import OperatorError

log = logging.getLogger("scraper.outage")
T = TypeVar("T")

# MySQL/MariaDB client and server error codes.
PERMISSION_CODES = {1044, 1045, 1142, 1143, 1227, 1370}  # access denied: db, login, table, column, privilege
TRANSIENT_CODES = {
    1040,  # too many connections
    1053,  # server shutdown in progress
    1205,  # lock wait timeout
    1213,  # deadlock: InnoDB rolled the transaction back, redo it
    2002, 2003,  # cannot connect (socket / TCP)
    2006, 2013,  # server has gone away / lost connection during query
    2055,  # lost connection at reading initial communication packet
}
SQLITE_TRANSIENT = ("database is locked", "disk i/o error", "unable to open database file")
SQLITE_PERMISSION = ("readonly database", "attempt to write a readonly")


def error_code(exc: BaseException) -> int | None:
    orig = getattr(exc, "orig", exc)
    args = getattr(orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def reason(exc: BaseException) -> str:
    return str(getattr(exc, "orig", exc)).splitlines()[0] if str(getattr(exc, "orig", exc)) else type(exc).__name__


def classify(exc: BaseException) -> str:
    """'permission', 'transient' or 'other' (a bug or schema problem: not retried, not hidden)."""
    if not isinstance(exc, DBAPIError):
        return "other"
    code = error_code(exc)
    if code in PERMISSION_CODES:
        return "permission"
    if code in TRANSIENT_CODES or exc.connection_invalidated:
        return "transient"
    text = reason(exc).lower()
    if any(s in text for s in SQLITE_PERMISSION):
        return "permission"
    if any(s in text for s in SQLITE_TRANSIENT):
        return "transient"
    if code is None and type(getattr(exc, "orig", None)).__name__ == "InterfaceError":
        return "transient"  # PyMySQL's InterfaceError(0, '') after the socket died under it
    return "other"


class Stopped(Exception):
    """Shutdown requested while waiting for a database to come back: nothing more to do."""


@dataclass
class Backoff:
    """Delays 0.5 s, 1 s, 2 s, ... capped at `cap` seconds."""

    cap: float
    start: float = 0.5

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.start * 2 ** min(attempt, 30))


class Retrier:
    """Runs database operations of one run; `errors` counts every failed attempt (metric `errors`)."""

    def __init__(self, cfg: Settings, stop: threading.Event):
        self.cfg, self.stop = cfg, stop
        self.backoff = Backoff(max(cfg.backoff_cap.total_seconds(), 0.01))
        self.errors = 0
        self._down: dict[str, float] = {}

    def call(self, which: str, fn: Callable[..., T], *args, recovered: Callable[[], bool] | None = None,
             **kwargs) -> T | None:
        """fn(*args) until it succeeds. `which` ('source'/'target') names the config key in messages.

        `recovered()` is asked before a retry: a COMMIT whose acknowledgement was lost may have been
        applied, and then redoing the write would duplicate it; if it says so, None is returned.
        Raises Stopped when a shutdown is requested while the database is down.
        """
        attempt = 0
        while True:
            try:
                result = fn(*args, **kwargs)
            except DBAPIError as exc:
                kind = classify(exc)
                if kind == "permission":
                    raise self.cfg.error(which, f"permission denied: {reason(exc)}") from None
                if kind != "transient":
                    raise
                self.errors += 1
                if which not in self._down:
                    self._down[which] = time.monotonic()
                    log.warning("%s DB down: %s; retrying with backoff up to %gs", which, reason(exc),
                                self.backoff.cap)
                if self.stop.wait(self.backoff.delay(attempt)):
                    raise Stopped(f"{which} DB down at shutdown")
                attempt += 1
                if recovered is not None and self._try(which, recovered):
                    self._up(which, attempt)
                    return None
                continue
            if which in self._down:
                self._up(which, attempt)
            return result

    def _try(self, which: str, probe: Callable[[], bool]) -> bool:
        try:
            return probe()
        except DBAPIError as exc:
            if classify(exc) != "transient":
                raise
            self.errors += 1
            return False

    def _up(self, which: str, attempts: int) -> None:
        since = self._down.pop(which, None)  # the counting thread (skipping.py) may have said so already
        if since is None:
            return
        down_for = time.monotonic() - since
        log.warning("%s DB back up after %.1fs (%d failed attempts)", which, down_for, attempts)

    @property
    def down(self) -> bool:
        return bool(self._down)


def checked(cfg: Settings, which: str, fn: Callable[..., T], *args, **kwargs) -> T:
    """Start-up operations: a permission problem becomes one line naming the key instead of a traceback."""
    try:
        return fn(*args, **kwargs)
    except DBAPIError as exc:
        kind = classify(exc)
        if kind == "permission":
            raise cfg.error(which, f"permission denied: {reason(exc)}") from None
        if kind == "transient":
            raise cfg.error(which, f"database unreachable at start-up: {reason(exc)}") from None
        raise


__all__ = ["Backoff", "Retrier", "Stopped", "checked", "classify", "OperatorError"]
