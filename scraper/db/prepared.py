"""db.PreparedQuery: one SELECT compiled once, run per call on a connection of its own.

The skip search runs one statement per propagation (sources/sql/skipping.py), so what a call costs
in Python counts as much as what the database does with it: at catch-up's 10 000 propagations per
million entries, every 10 us per call is 0.1 s, an eighth of SQLite's whole scan of those entries.
"""
from __future__ import annotations

import copy
from datetime import datetime
from operator import itemgetter
from typing import Any, Callable, Collection, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Engine

from scraper.db import cancel, dialects


class Binder:
    """A call's parameters (by bind name) as the DBAPI takes them, without SQLAlchemy's per-call
    construct_params (~25 us a call: it walks every bind, named or not). Computed once: the order of
    the positional parameters, the constants SQLAlchemy bound itself (LIMIT, rtrim's characters)
    already processed, and the bind processor of each named parameter. Used for the skip search's
    statements and for the rows of the target's grouped INSERTs (targets/dbi.py)."""

    def __init__(self, compiled: sa.sql.compiler.SQLCompiler, dialect: sa.engine.Dialect,
                 steady: Collection[str] = ()):
        """`steady`: keys whose value is mostly the same object from call to call (the wall-clock bound,
        reused for a fraction of a second: ~2 000 searches): converted once per value, not per call."""
        escaped = compiled.escaped_bind_names or {}
        self.fixed: dict[str, Any] = {}
        self.named: list[tuple[str, str, Callable[[Any], Any] | None]] = []  # (caller's key, DBAPI name, proc)
        self.required: set[str] = set()
        for bp, name in compiled.bind_names.items():
            out = escaped.get(name, name)
            proc = _bind_processor(bp.type, dialect)
            if proc is not None and bp.key in steady:
                proc = _Remembered(proc)
            if bp.callable is not None:
                raise ValueError(f"{name}: a bound parameter with a callable value is not for a prepared query")
            if not bp.required:
                value = bp.value
                self.fixed[out] = proc(value) if proc is not None and value is not None else value
            else:
                self.required.add(out)
            if not bp.unique:  # anonymous binds (SQLAlchemy's constants) are never named by a caller
                self.named.append((bp.key, out, proc))
        self.order = compiled.positiontup  # None for named paramstyles (PyMySQL's pyformat)
        # positional: per position, the caller's key and processor, or the constant (key None)
        by_out = {out: (key, proc) for key, out, proc in self.named}
        self._plan = None if self.order is None else [
            (*by_out.get(out, (None, None)), self.fixed.get(out)) for out in self.order]

    def args(self, params: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        if self._plan is not None:
            try:
                return tuple([fixed if key is None else value if (value := params[key]) is None or proc is None
                              else proc(value) for key, proc, fixed in self._plan])
            except KeyError:
                pass  # a constant's default, or a missing value: the general way below says which
        values = self.fixed.copy()
        for key, out, proc in self.named:
            if key in params:
                value = params[key]
                values[out] = value if proc is None or value is None else proc(value)
        if len(values) < len(self.fixed) + len(self.required):
            missing = sorted(self.required - values.keys())
            raise sa.exc.ArgumentError(f"no value for the bound parameter(s) {', '.join(missing)}")
        order = self.order
        return tuple([values[k] for k in order]) if order is not None else values


class _Remembered:
    """A bind processor that converts a value it was just given (the same object) only once."""

    __slots__ = ("proc", "given", "made")

    def __init__(self, proc: Callable[[Any], Any]):
        self.proc, self.given, self.made = proc, None, None

    def __call__(self, value: Any) -> Any:
        if value is not self.given:
            self.made, self.given = self.proc(value), value
        return self.made


def _bind_processor(type_: sa.types.TypeEngine, dialect: sa.engine.Dialect) -> Callable[[Any], Any] | None:
    """The type's bind processor (of its dialect implementation: a generic type's processors are its
    dialect's, e.g. SQLite DATETIME text). SQLite's DATETIME in its default storage format is spelled
    by isoformat, 3x cheaper than SQLAlchemy's %-format (two per target row: ~5 us a propagation)."""
    impl = type_.dialect_impl(dialect)
    proc = impl.bind_processor(dialect)
    if proc is None or type(impl) is not sqlite.DATETIME:
        return proc
    if impl._storage_format != sqlite.DATETIME._storage_format:
        return proc
    slow = proc

    def process(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is None and value.year >= 1000:
            return value.isoformat(" ", "microseconds")
        return slow(value)
    return process


class PreparedQuery:
    """One SELECT compiled once by SQLAlchemy and run on a dedicated DBAPI connection in autocommit mode.

    For the statement catch-up issues once per propagation (skipping.py): a pooled Connection costs a
    checkout, a BEGIN, a reset and per-execution bookkeeping — ~150 us, more than SQLite needs to run the
    query (bench/). Here SQLAlchemy still writes the dialect's SQL and supplies each type's bind and
    result processors; only the per-call machinery is skipped. Autocommit: every statement is its own
    snapshot, which is all a single SELECT needs. DBAPI errors are raised as SQLAlchemy's DBAPIError
    (a lost connection flagged as such), so the outage retrier treats them like any other; the
    connection is then dropped and a new one made on the next call.
    """

    def __init__(self, engine: Engine, stmt: sa.Select, steady: Collection[str] = ()):
        self.engine, dialect = engine, engine.dialect
        compiled = stmt.compile(dialect=dialects.impl(engine).prepared_dialect(dialect))
        self.sql = str(compiled)
        self.keys = list(stmt.selected_columns.keys())
        self._binder = Binder(compiled, dialect, steady)
        self._types = [col.type.dialect_impl(dialect) for col in stmt.selected_columns]
        self._results: list | None = None  # from the first result's type codes (PostgreSQL's numerics need them)
        self._processors: list[tuple[int, Any]] | None = None
        self._conn = None
        # kept with the connection, made by the first call: a cursor and the statement's entry in the
        # registry a stop cancels (db/cancel.py) cost ~2 us a call to make, a catch-up makes ~10 000 a second
        self._cursor: Any = None
        self._running: cancel.running | None = None

    def with_sql(self, sql: str) -> "PreparedQuery":
        """The same parameters and result columns around another SQL text (a compound statement that
        runs this one, sources/sql/chain.py), on a connection of its own."""
        other = copy.copy(self)
        other.sql, other._conn, other._cursor, other._running = sql, None, None, None
        return other

    def _connection(self):
        """Ours until close(): detached, never handed back to the pool in autocommit mode. The pool
        raises the DBAPI's own error (not SQLAlchemy's) when it cannot connect; execute() wraps it."""
        if self._conn is None:
            try:
                fairy = self.engine.raw_connection()
            except sa.exc.DBAPIError as exc:
                raise exc.orig from None
            fairy.detach()
            if self.engine.dialect.name != "sqlite":  # SQLite connections already autocommit (db.connect)
                try:
                    dialects.impl(self.engine).autocommit(fairy.dbapi_connection)
                except BaseException:
                    fairy.close()
                    raise
            self._conn = fairy
        return self._conn

    def execute(self, params: dict) -> list[tuple]:
        """Rows as tuples of Python values (each column's result processor applied)."""
        rows = self.execute_raw(params)
        procs = self.processors
        if not procs:
            return rows
        out = []
        for row in rows:
            values = list(row)
            for k, proc in procs:
                values[k] = proc(values[k])
            out.append(tuple(values))
        return out

    def converted(self, rows: list[tuple]) -> tuple[list[int], list[Sequence[Any]]]:
        """The columns of `rows` (from execute_raw()) that have a result processor: their indices and
        their values converted, a column at a time — a type that converts a whole column at once
        (timeforms.TextTime: C-level passes) does so, the others are mapped. For a caller reading many
        rows (a batch of entries): no Python loop per value, and the other columns left where they are."""
        indices = [k for k, _proc in self.processors]
        columns: list[Sequence[Any]] = []
        for k, proc in self.processors:
            values = list(map(itemgetter(k), rows))
            whole = getattr(self._types[k], "process_column", None)
            columns.append(whole(values) if whole is not None else list(map(proc, values)))
        return indices, columns

    @property
    def processors(self) -> list[tuple[int, Any]]:
        """(column index, result processor) of the columns execute_raw() leaves as the driver gave them
        (SQLite DATETIME text): for a caller that converts rows its own, cheaper, way."""
        if self._processors is None:
            if self._results is None:
                return []  # known from the first result's type codes
            self._processors = [(k, p) for k, p in enumerate(self._results) if p is not None]
        return self._processors

    def execute_raw(self, params: dict) -> list[tuple]:
        """Rows as the DBAPI returns them. A kept connection found dead (the server restarted since the
        last call) is replaced once at once, as the pool's pre-ping would: an outage is only what a
        fresh connection cannot get past."""
        return self._rows(self._binder.args(params))

    def _rows(self, args: Any) -> list[tuple]:
        """Run the statement; a kept connection that died while idle (the server restarted since) is
        replaced once, as pool_pre_ping does for pooled ones, so an outage that is over is not seen
        again by every statement that had a connection of its own."""
        dbapi = self.engine.dialect.loaded_dbapi
        while True:
            conn = cursor = None
            kept = self._conn is not None
            try:
                conn = self._connection()  # may reconnect: a server that is down fails here, not below
                cursor, running = self._cursor, self._running
                if cursor is None or running is None:
                    cursor = self._cursor = conn.dbapi_connection.cursor()
                    running = self._running = cancel.running(self.engine, conn.dbapi_connection)
                with running:
                    cursor.execute(self.sql, args)
                    rows = cursor.fetchall()
                if self._results is None and cursor.description is not None:  # PostgreSQL's numerics need the type codes
                    self._results = [t.result_processor(self.engine.dialect, d[1])
                                     for t, d in zip(self._types, cursor.description)]
                return rows
            except dbapi.Error as exc:
                lost = conn is None or self.engine.dialect.is_disconnect(exc, conn.dbapi_connection, cursor)
                self.close()
                if lost and kept:
                    continue  # the next round makes a new connection; if that fails, it is an outage
                raise sa.exc.DBAPIError.instance(self.sql, args, exc, dbapi.Error,
                                                 connection_invalidated=lost, dialect=self.engine.dialect) from exc

    def close(self) -> None:
        self._cursor = self._running = None  # closed with their connection
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                # the DBAPI connection itself: it is ours (detached), and a pool "reset" (a rollback) on a
                # connection the server dropped would log an ERROR with a traceback for nothing
                conn.dbapi_connection.close()
            except self.engine.dialect.loaded_dbapi.Error:
                pass  # it was already dead: that is why we are closing it
