"""Time limits on every database call, with each driver's own settings, and the two things the liveness
watch (runtime/hang.py) and `scr.py status` do when a server may have stopped answering.

A server that is stopped (SIGSTOP, a hung VM) or behind a network black hole refuses nothing: the
kernel accepts the connection, the query is sent, and the client waits for an answer that never comes.
So every connection carries the limits its driver knows:

* PyMySQL: `connect_timeout` (the TCP/socket connect), `read_timeout`/`write_timeout` = the key
  `statement_timeout` (the longest wait for one reply; a long catch-up query sends nothing until its
  first row, so this is a bound on one statement, not on silence);
* psycopg: `connect_timeout` (the whole login), TCP keepalives (a dead peer on a TCP connection is
  found in ~25 s: idle 10 s, then 3 probes 5 s apart) and the server's own `statement_timeout`;
* SQLite: the busy timeout (db.SQLITE_BUSY_S).

`statement_timeout` must stay above the longest legitimate statement (default 1h; 0 lifts it): a
statement it ends is an outage, retried, and would fail again. A stopped server is found much sooner
by `answers()`, which asks it something trivial on a fresh connection under a short limit.
"""
from __future__ import annotations

import os
import socket
import threading
import weakref
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine

CONNECT_TIMEOUT_S = 10
# TCP keepalives for psycopg (libpq): seconds idle before the first probe, between probes, probes lost
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


def connect_args(url: URL, statement_timeout: timedelta | None) -> dict[str, Any]:
    """The DBAPI connect arguments bounding every call on `url` (what the URL's query sets itself wins)."""
    limit = statement_timeout.total_seconds() if statement_timeout else 0
    backend = url.get_backend_name()
    if backend in ("mysql", "mariadb"):
        args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S}
        if limit > 0:
            args.update(read_timeout=limit, write_timeout=limit)
    elif backend == "postgresql":
        args = {"connect_timeout": CONNECT_TIMEOUT_S, **KEEPALIVES}
        if limit > 0:
            args["options"] = f"-c statement_timeout={int(limit * 1000)}"
    else:
        return {}
    return {k: v for k, v in args.items() if k not in url.query}


# The engines of each config key (`source`, `target`) connected in this process, newest last, and every
# DBAPI connection each engine opened: what the liveness watch probes and severs. One section runs per
# process (tests run sections one after another), so the newest engine of a key is the running one's;
# a mode may hold more than one engine of a key (a counting thread's, say), all on the same server.
_lock = threading.Lock()
_by_key: dict[str, "weakref.WeakSet[Engine]"] = {}
_newest: dict[str, "weakref.ref[Engine]"] = {}
_connections: "weakref.WeakKeyDictionary[Engine, weakref.WeakSet]" = weakref.WeakKeyDictionary()


def watch(engine: Engine, key: str) -> None:
    """Remember `engine` as the one of `key`, and each connection it opens (from the moment its socket
    exists: a login to a stopped server waits too)."""
    with _lock:
        _by_key.setdefault(key, weakref.WeakSet()).add(engine)
        _newest[key] = weakref.ref(engine)
        if engine in _connections or engine.dialect.name == "sqlite":  # a file: it always answers
            return
        _connections[engine] = weakref.WeakSet()

    def remember(conn: Any) -> None:
        with _lock:
            _connections[engine].add(conn)

    if engine.dialect.name in ("mysql", "mariadb"):
        @event.listens_for(engine, "do_connect")
        def _deferred(dialect, _record, cargs, cparams):  # pragma: no cover - every MariaDB test
            conn = dialect.loaded_dbapi.connect(*cargs, defer_connect=True, **cparams)
            remember(conn)
            conn.connect()
            return conn
    else:
        event.listen(engine, "connect", lambda conn, _record: remember(conn))


def engine_of(key: str) -> Engine | None:
    """The engine of `key` connected last in this process (None: none, or gone)."""
    with _lock:
        ref = _newest.get(key)
    return ref() if ref is not None else None


def sever_all(key: str, engine: Engine) -> int:
    """Sever every connection opened by an engine of `key` on the server of `engine` (it does not
    answer: none of them is of use); returns how many were severed."""
    with _lock:
        engines = [e for e in _by_key.get(key, ()) if e.url == engine.url]
        conns = [c for e in engines for c in _connections.get(e, ())]
    return sum(sever(conn) for conn in conns)


def answers(engine: Engine, timeout: float) -> str | None:
    """None when the server of `engine` answers `SELECT 1` on a fresh connection within about `timeout`
    seconds; else why not (a short reason for a log line or `status`). SQLite is a file: it answers."""
    if engine.dialect.name == "sqlite":
        return None
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    wait = max(int(round(timeout)), 1)
    cparams["connect_timeout"] = wait
    if engine.dialect.name in ("mysql", "mariadb"):
        cparams.update(read_timeout=wait, write_timeout=wait)
    try:
        conn = engine.dialect.loaded_dbapi.connect(*cargs, **cparams)
    except Exception as exc:  # noqa: BLE001 - any failure to log in within the limit is "no answer"
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"no answer within {wait}s ({text})"
    try:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        cur.fetchall()
        cur.close()
    except Exception as exc:  # noqa: BLE001
        return f"no answer within {wait}s ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    finally:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - the probe's own connection: nothing to keep
            pass
    return None


def sever(dbapi_connection: Any) -> bool:
    """Shut down the socket under a DBAPI connection whose server stopped answering, so that the call
    waiting on it fails now (as an outage: 'lost connection') instead of when the server wakes up.
    Works from any thread; the connection is dead afterwards and the pool replaces it."""
    fileno = getattr(dbapi_connection, "fileno", None)  # psycopg
    try:
        if callable(fileno):
            fd = fileno()
        else:  # PyMySQL has no public way to its socket
            sock = getattr(dbapi_connection, "_sock", None)
            if sock is None:
                return False
            fd = sock.fileno()
    except Exception:  # noqa: BLE001 - psycopg raises once the connection is lost: nothing left to cut
        return False
    if fd is None or fd < 0:
        return False
    try:
        # a second socket object on a duplicate of the descriptor: shutting it down ends the connection
        # for every descriptor of it, and the waiting thread's recv()/poll() returns at once
        with socket.socket(fileno=os.dup(fd)) as dup:
            dup.shutdown(socket.SHUT_RDWR)
    except OSError:
        return False
    return True


def end_idle_transactions(engine: Engine, seconds: float) -> None:
    """Have the server end a session of `engine` whose transaction sits idle for `seconds` (a client
    frozen inside its transaction, holding its locks): PostgreSQL's
    `idle_in_transaction_session_timeout`, MariaDB's `idle_transaction_timeout` (whole seconds), set on
    each connection at its first checkout from now on. SQLite has no server to do it: nothing."""
    backend = engine.dialect.name
    if backend == "postgresql":
        statement = f"SET idle_in_transaction_session_timeout = {max(int(seconds * 1000), 1)}"
    elif backend in ("mysql", "mariadb"):
        statement = f"SET SESSION idle_transaction_timeout = {max(int(seconds), 1)}"
    else:
        return

    def limit(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.get("idle_transaction_limit") == statement:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(statement)
            finally:
                cursor.close()
            dbapi_connection.commit()  # a SET in PostgreSQL's implicit transaction is undone by a rollback
        except Exception:  # noqa: BLE001 - a broken connection: the statement that follows says so, wrapped
            return  # and the next checkout tries again
        record.info["idle_transaction_limit"] = statement

    event.listen(engine, "checkout", limit)
