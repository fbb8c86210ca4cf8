"""Cancelling the statements a stopping process waits on, so that a stop never waits for a query.

A SIGTERM or the sentinel is noticed between two rounds; a statement that runs for minutes (an
`aggregate_filter` calling SLEEP(), a lock wait, a huge scan) would hold the stop back until it ends.
So every statement is registered while it runs (SQLAlchemy's cursor events for pooled connections,
`running()` for db.PreparedQuery's own), and `cancel_all()` interrupts whatever is registered the way
each backend allows from another thread: SQLite `interrupt()`, MariaDB/MySQL `KILL QUERY <thread id>`
from a fresh connection, PostgreSQL `cancel()`. The statement then fails, its transaction is rolled
back (whole or absent, as after SIGKILL) and the run ends through the retrier's Stopped.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

log = logging.getLogger("scraper.stop")
# thread ident -> (engine, DBAPI connection executing now). Each thread sets and clears only its own key,
# an atomic dict operation, and cancel_all reads a copy (one C call): no lock per statement, which a
# catch-up runs ~10 000 a second
_running: dict[int, tuple[Engine, Any]] = {}


def track(engine: Engine) -> None:
    """Register every statement `engine` runs while it runs."""
    if event.contains(engine, "before_cursor_execute", _before):
        return
    event.listen(engine, "before_cursor_execute", _before)
    event.listen(engine, "after_cursor_execute", _after)
    event.listen(engine, "handle_error", _error)


def _before(conn, _cursor, _statement, _parameters, _context, _executemany) -> None:
    _running[threading.get_ident()] = (conn.engine, conn.connection.dbapi_connection)


def _after(*_args) -> None:
    _running.pop(threading.get_ident(), None)


def _error(_context) -> None:
    _after()


class running:
    """For statements run on a bare DBAPI connection (db.PreparedQuery): `with running(engine, conn):`.
    A class rather than a generator-based context manager: it wraps each skip search (a few us saved
    per propagation)."""

    __slots__ = ("entry",)

    def __init__(self, engine: Engine, dbapi_connection: Any):
        self.entry = (engine, dbapi_connection)

    def __enter__(self) -> None:
        _running[threading.get_ident()] = self.entry

    def __exit__(self, *_exc: Any) -> None:
        _after()


def cancel_all() -> int:
    """Interrupt every statement running now (from any thread); returns how many were asked to stop."""
    targets = list(_running.copy().values())
    for engine, dbapi_connection in targets:
        try:
            _cancel(engine, dbapi_connection)
        except Exception as exc:  # the server may be down: then there is nothing to wait for anyway
            log.debug("could not cancel a statement on %s: %s", engine.url.get_backend_name(), exc)
    return len(targets)


def _cancel(engine: Engine, dbapi_connection: Any) -> None:
    name = engine.dialect.name
    if name == "sqlite":
        dbapi_connection.interrupt()
    elif name in ("mysql", "mariadb"):
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        cparams.update(connect_timeout=2, read_timeout=2, write_timeout=2)  # the server may not answer
        killer = engine.dialect.loaded_dbapi.connect(*cargs, **cparams)
        try:
            with killer.cursor() as cur:
                cur.execute(f"KILL QUERY {int(dbapi_connection.thread_id())}")
        finally:
            killer.close()
    elif hasattr(dbapi_connection, "cancel_safe"):  # psycopg >= 3.2: bounded, a stopped server cannot hold it
        dbapi_connection.cancel_safe(timeout=2)
    elif hasattr(dbapi_connection, "cancel"):
        dbapi_connection.cancel()  # psycopg
