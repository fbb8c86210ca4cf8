"""Writes that each dialect spells its own way: an INSERT that skips a row whose unique key is there,
compiled once for the driver.

A logger re-sends a spool record after a lost acknowledgement and re-reads a file killed before its
deletion; the target's unique keys turn both into nothing, which needs "insert if new": SQLite and
PostgreSQL say ON CONFLICT DO NOTHING; MariaDB/MySQL have no such clause, and INSERT IGNORE would also
turn a value out of range into a silently clipped one, so a duplicate key there updates a key column
to itself (a no-op the server reports as 0 rows).
"""
from __future__ import annotations

from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Engine


def insert_new(dialect_name: str, table: sa.Table, key_column: str | None = None) -> Any:
    """INSERT into `table` writing nothing for a row whose unique key is already there. `key_column`:
    a column of that key, which MariaDB/MySQL set to itself on a duplicate (default: the first column)."""
    if dialect_name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect_name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect_name in ("mysql", "mariadb"):
        stmt = mysql.insert(table)
        column = key_column or table.c[0].name
        return stmt.on_duplicate_key_update({column: stmt.inserted[column]})
    raise ValueError(f"no INSERT-if-new for the {dialect_name} dialect")


class DriverSQL:
    """A statement compiled ONCE for the engine's driver, run with exec_driver_sql: a chunk of a
    thousand rows, or a thousand one-row statements, skip SQLAlchemy's per-call compile-cache lookup and
    per-row parameter processing (bench/). Rows are sequences in `columns` order (an INSERT's columns,
    or a statement's bind parameter names); only for values every driver takes as they are (numbers,
    text, None): SQLAlchemy's type processing is skipped, which a datetime on SQLite needs."""

    def __init__(self, engine: Engine, stmt: Any, columns: Sequence[str]):
        compiled = stmt.compile(dialect=engine.dialect, column_keys=list(columns))
        self.sql = str(compiled)
        self.names: tuple[str, ...] | None = None  # named parameters: rows become dicts
        if compiled.positional:
            order = tuple(compiled.positiontup or ())
            self.index = [list(columns).index(name) for name in order]
            self.identity = order == tuple(columns)
        else:
            self.names = tuple(columns)

    def params(self, rows: Sequence[Sequence[Any]]) -> list:
        if self.names is not None:
            names = self.names
            return [dict(zip(names, r)) for r in rows]
        if self.identity:  # tuples: SQLAlchemy takes a list of tuples (or dicts) as many rows
            return list(map(tuple, rows))
        index = self.index
        return [tuple(r[i] for i in index) for r in rows]

    def run(self, conn: sa.Connection, rows: Sequence[Sequence[Any]]) -> None:
        """One executemany of `rows` on `conn` (inside the caller's transaction)."""
        if rows:
            conn.exec_driver_sql(self.sql, self.params(rows))

    def one(self, conn: sa.Connection, row: Sequence[Any]) -> sa.CursorResult:
        """The statement once, with one row of parameters (a lookup)."""
        return conn.exec_driver_sql(self.sql, self.params([row])[0])


def sqlite_json_insert(engine: Engine, table: sa.Table) -> str | None:
    """An INSERT-if-new of rows given as ONE JSON array of arrays (in the table's column order), which
    SQLite parses itself (json_each): a spooled chunk's rows reach the table without a Python object
    per value, which was most of a drain (bench/). None when the SQLite library has no JSON functions.
    SQLite's parser gives a JSON number the REAL or INTEGER, and a string the TEXT, that binding the
    decoded Python value gives (the logger's tests compare drained rows with directly written ones)."""
    quote = engine.dialect.identifier_preparer.quote
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT json_extract('[1]', '$[0]')").scalar()
    except sa.exc.OperationalError:
        return None
    names = [c.name for c in table.c]
    picks = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(names)))
    return (f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, names))}) SELECT {picks} "
            "FROM json_each(?) WHERE true ON CONFLICT DO NOTHING")  # WHERE: SQLite's upsert-after-SELECT rule
