"""Outage or mistake, decided once: what a failed database call means, and retrying the outages.

A scraper runs unattended for months, so a MariaDB restart, a network blip, a target switched to
read-only for maintenance or a full disk must not end it (nor make supervisord restart-loop it): the
failed operation is retried with capped backoff until the database is back — at start-up as mid-run,
because after a reboot the database often comes up after the scraper. What an operator must fix
instead — a wrong password, an unknown database or host, a user without CREATE or INSERT, a file that
is not a database — would never heal by waiting: it becomes a one-line OperatorError (exit 2).

`classify()` is the only place that tells the two apart (docs/operations.md has the table). It takes
SQLAlchemy's DBAPIError as well as a raw DBAPI error (PyMySQL, sqlite3) from code that talks to a
DBAPI connection directly (db.PreparedQuery, the skip search).

Only one log line per state change (down / back up) is written, never one per retry, so a night-long
outage leaves two lines in the log rather than thousands.
"""
from __future__ import annotations

import logging
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from sqlalchemy.exc import DBAPIError

from scraper.config import Settings
from scraper.errors import OperatorError
from scraper.runtime.hang import Watch

log = logging.getLogger("scraper.outage")
T = TypeVar("T")
OUTAGE, MISTAKE, OTHER = "outage", "mistake", "other"

# MySQL/MariaDB client and server error codes.
MISTAKE_CODES = {
    1044, 1045, 1698,  # access denied: to the database, wrong password, unix_socket login refused
    1142, 1143, 1227, 1370,  # missing privilege: table (CREATE, INSERT, ...), column, SUPER, routine
    1049,  # unknown database
    1054, 1146,  # unknown column, no such table: a schema changed under a running section
    2005,  # unknown MySQL server host
}
OUTAGE_CODES = {
    1040,  # too many connections
    1053,  # server shutdown in progress
    1205,  # lock wait timeout
    1213,  # deadlock: InnoDB rolled the transaction back, redo it
    1290, 1836, 1792,  # --read-only / read-only mode / read-only transaction (maintenance, failover)
    1021, 1114, 1030, 3,  # disk full, table full, storage engine error (I/O), error writing file
    1927,  # connection was killed
    2002, 2003,  # cannot connect (socket / TCP)
    2006, 2013,  # server has gone away / lost connection during query
    2055,  # lost connection at reading initial communication packet
}
# sqlite3 errors by name (Python >= 3.11 sets sqlite_errorname), with the message as fallback.
SQLITE_OUTAGE = {"SQLITE_BUSY": "database is locked", "SQLITE_LOCKED": "database table is locked",
                 "SQLITE_IOERR": "disk i/o error", "SQLITE_FULL": "database or disk is full",
                 "SQLITE_CANTOPEN": "unable to open database file"}
# A read-only SQLite file does not become writable by waiting: its permissions are SQLite's privileges.
SQLITE_MISTAKE = {"SQLITE_READONLY": "readonly database", "SQLITE_NOTADB": "file is not a database",
                  "SQLITE_CORRUPT": "database disk image is malformed", "SQLITE_PERM": "access permission denied",
                  "SQLITE_AUTH": "authorization denied"}
# PostgreSQL refuses a login before any SQLSTATE reaches the client (psycopg gives none): its FATAL
# message is all there is. A database or role that does not exist, or a password it rejects, does not
# heal by waiting, unlike "the database system is starting up" or a refused connection.
PG_LOGIN_MISTAKE = re.compile(r'FATAL:\s+(database "[^"]*" does not exist|role "[^"]*" does not exist|'
                              r'password authentication failed|no pg_hba\.conf entry)')


# a column or table the section reads or writes is gone (dropped or renamed by hand): waiting will not
# bring it back, and a traceback would not say so: one line, exit 2, at start-up as mid-run
SCHEMA_STATES = {"42703", "42P01"}  # PostgreSQL: undefined column, undefined table
SQLITE_SCHEMA = ("no such column", "no such table", "has no column named")

# PostgreSQL SQLSTATEs: an operator's to fix (privilege, login) or an outage to wait out
PG_PERMISSION = {"42501", "28000", "28P01"}
# shutdown, too many connections, serialization/deadlock, lock wait; disk full, out of resources, I/O error,
# read-only transaction (a standby, maintenance); statement_timeout or another's cancel (as MySQL's 1317)
PG_TRANSIENT = {"57P01", "57P02", "57P03", "53300", "40001", "40P01", "55P03", "53100", "53000", "58030", "25006", "57014"}


def _by_sqlstate(state: str | None) -> str | None:
    """'permission' or 'transient' for a PostgreSQL error's SQLSTATE, None when it says neither."""
    if not state:
        return None
    if state in PG_PERMISSION:
        return "permission"
    if state in PG_TRANSIENT or state.startswith("08"):  # class 08: connection exceptions
        return "transient"
    return None


def db_errors() -> tuple[type[BaseException], ...]:
    """SQLAlchemy's wrapped errors and the DBAPI modules' own base exceptions (for code that bypasses
    SQLAlchemy's wrapping) — only of the drivers this process has loaded: a driver nobody imported
    raised nothing, and importing psycopg just to name its Error costs every SQLite run ~0.3 s of
    start-up. Called where an exception is being judged, so a driver loaded later counts."""
    import sqlite3

    found: list[type[BaseException]] = [DBAPIError, sqlite3.Error]
    mysql, pg = sys.modules.get("pymysql.err"), sys.modules.get("psycopg")
    found += [mod.Error for mod in (mysql, pg) if mod is not None and hasattr(mod, "Error")]
    return tuple(found)


def error_code(exc: BaseException) -> int | None:
    orig = getattr(exc, "orig", exc)
    args = getattr(orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", exc))
    return text.splitlines()[0] if text else type(getattr(exc, "orig", exc)).__name__


def _unresolvable(orig: BaseException) -> bool:
    """2003 is both 'refused' (an outage) and 'no such host name' (a typo): tell them apart."""
    cause = getattr(orig, "original_exception", None)
    if isinstance(cause, socket.gaierror):
        return cause.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME))
    return "Name or service not known" in str(orig)


def classify(exc: BaseException) -> str:
    """OUTAGE (wait and retry), MISTAKE (one line, exit 2) or OTHER (a bug or schema problem: raised)."""
    if not isinstance(exc, db_errors()):
        return OTHER
    orig = getattr(exc, "orig", exc)
    code = error_code(exc)
    if code == 2003 and _unresolvable(orig):
        return MISTAKE
    if code in MISTAKE_CODES:
        return MISTAKE
    if getattr(orig, "sqlstate", None) in SCHEMA_STATES:
        return MISTAKE
    by_state = _by_sqlstate(getattr(orig, "sqlstate", None))
    if by_state is not None:  # PostgreSQL names its errors by SQLSTATE, not by number
        return MISTAKE if by_state == "permission" else OUTAGE
    if code in OUTAGE_CODES or getattr(exc, "connection_invalidated", False):
        return OUTAGE
    name = getattr(orig, "sqlite_errorname", "") or ""
    base = "_".join(name.split("_")[:2])  # SQLITE_READONLY_DBMOVED -> SQLITE_READONLY
    text = reason(exc).lower()
    if base in SQLITE_MISTAKE or any(s in text for s in (*SQLITE_MISTAKE.values(), *SQLITE_SCHEMA)):
        return MISTAKE
    if base in SQLITE_OUTAGE or any(s in text for s in SQLITE_OUTAGE.values()):
        return OUTAGE
    kind = type(orig).__name__
    if code in (None, 0) and kind == "InterfaceError":
        return OUTAGE  # PyMySQL's InterfaceError(0, '') after the socket died under it
    if kind == "OperationalError" and type(orig).__module__.startswith("psycopg"):
        if PG_LOGIN_MISTAKE.search(str(orig)):
            return MISTAKE
        return OUTAGE  # psycopg: connection refused / terminated (credentials are caught by the probe)
    return OTHER


class Stopped(Exception):
    """Shutdown requested while a database was down or a statement was cancelled: nothing more to do."""


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
        self._lock = threading.Lock()  # the skip search counts on a thread of its own
        hang_after = cfg.get("hang_after")
        self.watch = Watch(hang_after.total_seconds(), self._hung) if hang_after else None
        # asked with `which` before an outage is said and waited out: may raise instead (runtime/lease.py
        # Lease.confirm: a connection the server ended because this process was frozen, section taken)
        self.confirm: Callable[[str], None] | None = None

    def call(self, which: str, fn: Callable[..., T], *args, recovered: Callable[[], bool] | None = None,
             **kwargs) -> T | None:
        """fn(*args) until it succeeds. `which` ('source'/'target') names the config key in messages.

        `recovered()` is asked before a retry: a COMMIT whose acknowledgement was lost may have been
        applied, and then redoing the write would duplicate it; if it says so, None is returned.
        Raises Stopped when a shutdown is requested while the database is down (or once the stop
        cancelled the statement), the OperatorError of a mistake, and anything else unchanged.
        """
        attempt = 0
        while True:
            try:
                result = fn(*args, **kwargs) if self.watch is None else self.watch.run(which, fn, *args, **kwargs)
            except db_errors() as exc:
                if self.stop.is_set():
                    raise Stopped(f"{which}: {reason(exc)} while stopping") from None
                kind = classify(exc)
                if kind == MISTAKE:
                    raise self.cfg.error(which, mistake(exc)) from None
                if kind != OUTAGE:
                    raise
                if self.confirm is not None:
                    self.confirm(which)
                self._failed(which, exc)
                if self.stop.wait(self.backoff.delay(attempt)):
                    raise Stopped(f"{which} DB down at shutdown") from None
                attempt += 1
                if recovered is not None and self._try(which, recovered):
                    self._up(which, attempt)
                    return None
                continue
            if which in self._down:
                self._up(which, attempt)
            return result

    def _failed(self, which: str, exc: BaseException) -> None:
        with self._lock:
            self.errors += 1
            if which in self._down:
                return
            self._down[which] = time.monotonic()
        log.warning("%s DB down: %s; retrying with backoff up to %gs", which, reason(exc), self.backoff.cap)

    def _hung(self, which: str, why: str) -> None:
        """The liveness watch (runtime/hang.py) found `which` not answering: an outage like any other."""
        with self._lock:
            self.errors += 1
            if which in self._down:
                return
            self._down[which] = time.monotonic()
        log.warning("%s DB down: %s; retrying with backoff up to %gs", which, why, self.backoff.cap)

    def _try(self, which: str, probe: Callable[[], bool]) -> bool:
        try:
            return probe()
        except db_errors() as exc:
            if classify(exc) != OUTAGE:
                raise
            with self._lock:
                self.errors += 1
            return False

    def _up(self, which: str, attempts: int) -> None:
        with self._lock:
            since = self._down.pop(which, None)  # the counting thread (skipping.py) may have said so already
        if since is None:
            return
        down_for = time.monotonic() - since
        log.warning("%s DB back up after %.1fs (%d failed attempts)", which, down_for, attempts)

    @property
    def down(self) -> bool:
        return bool(self._down)


def mistake(exc: BaseException) -> str:
    """The one-line message of a mistake: what the database said, and what to do about it."""
    code, text = error_code(exc), reason(exc)
    if code in (1142, 1143, 1227, 1370, 1044) or "readonly database" in text.lower():
        return f"permission denied: {text}"
    if schema_changed(exc):
        return f"a table's columns are not what the section reads (dropped or renamed?): {text}"
    return text


def schema_changed(exc: BaseException) -> bool:
    """The database says a column or table is not there (a mistake: see SCHEMA_STATES)."""
    state = getattr(getattr(exc, "orig", exc), "sqlstate", None)
    return error_code(exc) in (1054, 1146) or state in SCHEMA_STATES or any(
        s in reason(exc).lower() for s in SQLITE_SCHEMA)


def checked(cfg: Settings, which: str, fn: Callable[..., T], *args, **kwargs) -> T:
    """A call outside any run loop (scr.py status): a mistake or an outage is one line naming the key."""
    try:
        return fn(*args, **kwargs)
    except db_errors() as exc:
        kind = classify(exc)
        if kind == MISTAKE:
            raise cfg.error(which, mistake(exc)) from None
        if kind == OUTAGE:
            raise cfg.error(which, f"database unreachable: {reason(exc)}") from None
        raise


__all__ = ["Backoff", "Retrier", "Stopped", "checked", "classify", "mistake", "OperatorError", "db_errors",
           "OUTAGE", "MISTAKE", "OTHER"]
