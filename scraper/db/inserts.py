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
