"""What differs between the SQL backends, one class per dialect, found by name (as alembic's DefaultImpl).

Only what the SQL source's capabilities (reading, the skip search, change rules) need to know; each
attribute says why it differs. `for_engine(engine)` returns the instance for an engine's dialect.
"""
from __future__ import annotations

from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine


class Dialect:
    """The defaults: what a database with a cost-based planner and single-precision FLOAT needs."""

    name: ClassVar[str] = "default"
    # Relative slack of Moved() in SQL: the database computes with a FLOAT/REAL column's exact
    # single-precision value, while Python receives it rounded to ~7 digits; 1e-6 covers that many times.
    float_slack: ClassVar[float] = 1e-6
    # One statement chaining the whole skip search (a recursive CTE): only where measured to be planned
    # well. MariaDB planned the correlated recursion badly (~20 ms a step), so the default is no.
    chained_search: ClassVar[bool] = False

    def walk_table(self, stmt: sa.Select, table: sa.Table) -> sa.Select:
        """Hint a search over the table's own (id) order."""
        return stmt

    def walk_time_index(self, stmt: sa.Select, table: sa.Table) -> sa.Select:
        """Hint a search or count over the date_time index, never the primary key."""
        return stmt

    def compound_part(self, stmt: sa.Select) -> sa.Select:
        """A UNION ALL branch carrying its own ORDER BY/LIMIT."""
        return stmt


class SQLite(Dialect):
    name = "sqlite"
    float_slack = 0.0  # REAL is the double Python receives: SQL and Python compute the same numbers
    chained_search = True  # a recursive CTE step is an index seek: every propagation point in one statement

    def compound_part(self, stmt: sa.Select) -> sa.Select:
        # SQLite takes ORDER BY/LIMIT only on a whole compound: wrap the branch
        return sa.select(*stmt.subquery().c) if stmt._limit_clause is not None else stmt


class MariaDB(Dialect):
    name = "mysql"

    def walk_table(self, stmt: sa.Select, table: sa.Table) -> sa.Select:
        return stmt.with_hint(table, "FORCE INDEX (PRIMARY)")

    def walk_time_index(self, stmt: sa.Select, table: sa.Table) -> sa.Select:
        # InnoDB otherwise weighs a primary-key merge that costs a row lookup per entry
        return stmt.with_hint(table, "IGNORE INDEX (PRIMARY)")


_BY_NAME: dict[str, type[Dialect]] = {"sqlite": SQLite, "mysql": MariaDB, "mariadb": MariaDB}


def for_engine(engine: Engine) -> Dialect:
    return _BY_NAME.get(engine.dialect.name, Dialect)()
