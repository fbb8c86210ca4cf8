"""Every difference between SQLite, MariaDB/MySQL and PostgreSQL, one class per dialect, found by name.

Like alembic's `DefaultImpl`: a class declares `__dialect__` and `impl(engine)` finds it, so code
elsewhere asks "how does this database spell X" instead of testing dialect names. What differs:

* connecting: SQLite sources are opened read-only (`mode=ro`, readonly_url) and never switched to WAL
  (db.connect);
* autocommit on a raw DBAPI connection (PreparedQuery);
* index hints (InnoDB only; PostgreSQL and SQLite choose on their own), compound-statement syntax,
  and whether the skip search may chain in one recursive statement;
* float precision of change rules in SQL (`float_slack`);
* aggregate functions and their population-statistics meaning;
* bin arithmetic: epoch seconds of a naive time, integer division, greatest;
* how a source's `date_time` column is spelled (timeforms.py), detected once at start-up;
* how a source time is bound so that it compares right with what is stored (decimator, bridge);
* the time view: unix seconds of a DBI time, replacing a view;
* ids inserted by a faker: whether the table's id generator must be moved past them.
"""
from __future__ import annotations

import functools
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import URL, Engine
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from scraper.db import timeforms

_COMMON = ("avg", "min", "max", "sum", "count", "std", "stddev", "stddev_pop", "stddev_samp",
           "variance", "var_pop", "var_samp")
_POP_STD = ("std", "stddev", "stddev_pop")
_POP_VAR = ("variance", "var_pop")

_REGISTRY: dict[str, type["DefaultImpl"]] = {}


def _hint(stmt: sa.Select, table: sa.Table, text: str) -> sa.Select:
    # per dialect name: a hint without one would be rendered by every dialect, PostgreSQL's too
    return stmt.with_hint(table, text, "mysql").with_hint(table, text, "mariadb")


_named_paramstyle = functools.cache(lambda kind: kind(paramstyle="named"))  # SQLiteImpl.prepared_dialect


def impl(engine_or_name: Engine | str) -> "DefaultImpl":
    """The implementation for an engine (or a SQLAlchemy dialect name); DefaultImpl when unknown."""
    name = engine_or_name if isinstance(engine_or_name, str) else engine_or_name.dialect.name
    return _REGISTRY.get(name, DefaultImpl)()


def for_engine(engine: Engine) -> "DefaultImpl":
    return impl(engine)


class DefaultImpl:
    """What every SQL database does alike; subclasses override where theirs differs. The defaults: a
    database with a cost-based planner and single-precision FLOAT."""

    __dialect__: ClassVar[tuple[str, ...] | str] = "default"
    name: ClassVar[str] = "default"
    functions: ClassVar[tuple[str, ...]] = _COMMON
    # Relative slack of Moved() in SQL: the database computes with a FLOAT/REAL column's exact
    # single-precision value, while Python receives it rounded to ~7 digits; 1e-6 covers that many times.
    float_slack: ClassVar[float] = 1e-6
    # The skip search counts what it skipped on a thread of its own (sources/sql/skipping.py): a server
    # counts while Python works. Not SQLite (in-process): a second busy connection slowed each search 2x
    count_aside: ClassVar[bool] = True
    count_spans: ClassVar[int] = 64  # spans per counting query: a server's cost is per statement
    quick_count: ClassVar[bool] = False  # counting.py's quick form: 3 SELECTs a span, which a server plans
    count_in_search: ClassVar[bool] = False  # the search counts its span (a correlated index range)
    # Propagations' skip searches chained in one statement where the server can (sources/sql/chain.py)
    chain_length: ClassVar[int] = 0

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        names = (cls.__dialect__,) if isinstance(cls.__dialect__, str) else cls.__dialect__
        for name in names:
            _REGISTRY[name] = cls

    # --- connecting -------------------------------------------------------------------------------

    def autocommit(self, dbapi_conn: Any) -> None:
        """Make a raw DBAPI connection commit each statement (a lone SELECT needs no transaction)."""
        dbapi_conn.autocommit = True

    def ids_given(self, conn: sa.Connection, table: sa.Table) -> None:
        """After rows were inserted with their ids given (a faker continues a series): the table's id
        generator continues after them, for a writer inserting none (AUTO_INCREMENT, rowid: by themselves)."""

    # --- statements -------------------------------------------------------------------------------
    def prepared_dialect(self, dialect: sa.engine.Dialect) -> sa.engine.Dialect:
        """The dialect a statement run many times (db.PreparedQuery) is compiled with."""
        return dialect

    def walk_table(self, stmt: sa.Select, table: sa.Table) -> sa.Select:
        """Hint a search over the table's own (id) order."""
        return stmt

    def walk_time_index(self, stmt: sa.Select, table: sa.Table) -> sa.Select:
        """Hint a search or count over the date_time index, never the primary key."""
        return stmt

    def off_index(self, cond: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        """`cond` tested on the rows a search walking the table in id order reads (walk_table), where a
        planner could otherwise also answer it from the date_time index."""
        return cond

    def compound_part(self, stmt: sa.Select) -> sa.Select:
        """A UNION ALL branch carrying its own ORDER BY/LIMIT."""
        return stmt

    def unaffined(self, col: sa.ColumnElement) -> sa.ColumnElement:
        """`col` for a comparison evaluated on every row (not an index bound), as cheaply as it compares."""
        return col

    def aggregate(self, fn: str, x: sa.ColumnElement) -> sa.ColumnElement:
        """`fn(x)`; std/stddev/variance are POPULATION statistics on every backend (MariaDB's meaning)."""
        return getattr(sa.func, fn)(x)

    def count_where(self, cond: sa.ColumnElement[bool]) -> sa.ColumnElement:
        """How many rows of a group `cond` holds for (MariaDB has no FILTER clause)."""
        return sa.func.sum(sa.case((cond, 1), else_=0))

    def epoch_seconds(self, dt: sa.ColumnElement) -> sa.ColumnElement:
        """Whole seconds since 1970-01-01 of a naive time, read as if UTC (bins.py shifts by the zone)."""
        raise NotImplementedError(f"epoch_seconds on {type(self).__name__}")

    def int_div(self, a: sa.ColumnElement, b: sa.ColumnElement) -> sa.ColumnElement:
        return a // b

    def greatest(self, a: sa.ColumnElement, b: sa.ColumnElement) -> sa.ColumnElement:
        return sa.func.greatest(a, b)

    # --- binding a source time (decimator, bridge) ----------------------------------------------
    # Whether time bounds are bound as text (SQLite compares its stored text, see time_bound()).
    text_times: ClassVar[bool] = False
    # Whether bounding a time window by its (min id, max id) as well pays: InnoDB's secondary index
    # holds the primary key, so the bounded statement walks the table in primary-key order (bench/);
    # PostgreSQL's planner may use either index. SQLite's rowid table is walked in time order anyway.
    id_range_bounds: ClassVar[bool] = True

    def ranged_id(self, id_: sa.ColumnElement) -> sa.ColumnElement:
        """The id inside `min()`/`max()` of a time window's id range (averager, decimator)."""
        return id_

    def time_bound(self, t: datetime, strict: bool = False) -> Any:
        """`t` as a value to compare the stored time column with (`strict`: as the bound of `> t`)."""
        return t

    def time_literal(self, t: datetime, type_: sa.types.TypeEngine) -> sa.ColumnElement:
        """`t` as an SQL literal compared with the time column (of type `type_`)."""
        return sa.literal(t, type_)

    def stored_time(self, col: sa.ColumnElement) -> sa.ColumnElement:
        """The time column as stored, to be bound again to find exactly the rows holding it."""
        return col

    def thinned_time_type(self, engine: Engine, col: sa.Column, cfg: Any) -> sa.types.TypeEngine | None:
        """The type the decimator reads and compares its time column `col` with (None: as a naive
        DateTime). Raises cfg.error for a column it cannot take as is."""
        return None

    # --- the time view of a DBI target (targets/timeview.py) --------------------------------------
    def unix_seconds_sql(self, col: str) -> str:
        """SQL giving UTC unix seconds (with the fraction) of a DBI time column (naive, UTC), `col`
        already quoted."""
        raise NotImplementedError(f"time_view: no unix-seconds expression for {type(self).__name__}")

    def replace_view(self, conn: sa.Connection, name: str, select: str) -> None:
        """(Re)create view `name` (quoted) as `select`: the payload may have grown since it was made."""
        conn.exec_driver_sql(f"CREATE OR REPLACE VIEW {name} AS {select}")

    # --- the source's time column -----------------------------------------------------------------
    def time_type(self, engine: Engine, table: sa.Table, cfg: Any) -> sa.types.TypeEngine | None:
        """The type that reads and compares `table.c.date_time` exactly (None: the reflected one does).
        Raises cfg.error("source", ...) for a column that holds no time."""
        return None


class SQLiteImpl(DefaultImpl):
    __dialect__ = name = "sqlite"
    functions = _COMMON + ("total",)
    float_slack = 0.0  # REAL is the double Python receives: SQL and Python compute the same numbers
    count_aside, count_spans, quick_count, count_in_search = False, 16, True, True

    def prepared_dialect(self, dialect: sa.engine.Dialect) -> sa.engine.Dialect:
        # `:name` parameters, which SQLite binds once however often the SQL uses them: a time is several
        # bounds (timeforms), and binding each use was most of a counting query's cost (bench/)
        return _named_paramstyle(type(dialect))

    def thinned_time_type(self, engine: Engine, col: sa.Column, cfg: Any) -> sa.types.TypeEngine | None:
        timeforms.require_space_text(timeforms.sqlite_form(engine, col.table, col.name), cfg, col.table,
                                     "the decimator", col.name)
        return None

    def count_where(self, cond: sa.ColumnElement[bool]) -> sa.ColumnElement:
        # FILTER (3.30+): a quarter cheaper per row than sum(CASE ...), which the skip search's
        # counting query evaluates on every entry it counts
        return sa.func.count().filter(cond)

    def compound_part(self, stmt: sa.Select) -> sa.Select:
        # SQLite takes ORDER BY/LIMIT only on a whole compound: wrap the branch
        return sa.select(*stmt.subquery().c) if stmt._limit_clause is not None else stmt

    def unaffined(self, col: sa.ColumnElement) -> sa.ColumnElement:
        # A DATETIME column has NUMERIC affinity: compared with text, SQLite tries to read both texts
        # as numbers first, on every row. `+col` has no affinity: the same text comparison (a time of
        # the column's form never reads as a number), without the attempt. Not an index bound, though
        if not isinstance(col.type, timeforms.TextTime):
            return col
        return sa.type_coerce(UnaryExpression(col, operator=operators.custom_op("+")), col.type)

    # SQLite sources are text, written by DCS software as `2011-02-01 00:02:10` (often without a
    # fraction), while SQLAlchemy binds `2011-02-01 00:02:10.000000`; as text the former sorts BEFORE
    # the latter, so a bound datetime would miss the entry at exactly t. Bounds are bound as text: the
    # shortest spelling of t as an inclusive lower bound (it sorts before every spelling of t), the
    # longest as the strict one (callers drop entries at t already seen, comparing parsed times).
    text_times = True
    id_range_bounds = False

    def time_bound(self, t: datetime, strict: bool = False) -> Any:
        return t.strftime("%Y-%m-%d %H:%M:%S.%f") if strict else _shortest(t)

    def time_literal(self, t: datetime, type_: sa.types.TypeEngine) -> sa.ColumnElement:
        return sa.literal(_shortest(t), sa.String)

    def stored_time(self, col: sa.ColumnElement) -> sa.ColumnElement:
        # the text comes back as written: a parsed and re-spelt time might not match it
        return sa.type_coerce(col, sa.String)

    @staticmethod
    def readonly_url(url: URL) -> URL:
        """A scraper never changes its source: mode=ro also reads a file in a read-only directory."""
        path = url.database
        if not path or path == ":memory:" or path.startswith("file:"):
            return url
        return url.set(database=f"file:{quote(str(Path(path)))}", query={**url.query, "mode": "ro", "uri": "true"})

    def autocommit(self, dbapi_conn: Any) -> None:
        pass  # isolation_level = None (create_engine): every statement outside BEGIN commits itself

    def aggregate(self, fn: str, x: sa.ColumnElement) -> sa.ColumnElement:
        if fn not in _POP_STD + _POP_VAR + ("stddev_samp", "var_samp"):
            return getattr(sa.func, fn)(x)
        # SQLite has no such aggregate: written as sqrt(avg(x*x) - avg(x)^2), within ~1e-7 of pstdev
        mean = sa.func.avg(x)
        # max(v, 0): rounding may make a zero variance slightly negative; max() of NULL stays NULL.
        var_pop = sa.func.max(sa.func.avg(x * x) - mean * mean, 0)
        if fn in _POP_VAR:
            return var_pop
        if fn in _POP_STD:
            return sa.func.sqrt(var_pop)
        n = sa.func.count(x)
        var_samp = var_pop * n / sa.func.nullif(n - 1, 0)
        return var_samp if fn == "var_samp" else sa.func.sqrt(var_samp)

    def epoch_seconds(self, dt: sa.ColumnElement) -> sa.ColumnElement:
        if isinstance(dt.type, timeforms.EpochTime):  # floor: CAST truncates, and these are after 1970
            return sa.cast(sa.type_coerce(dt, sa.Float), sa.Integer)
        # of the whole seconds as spelled: SQLite rounds a fraction to ms (09:21:59.999522 was 09:22);
        # unixepoch() (SQLite 3.38) is an integer at once: with the substr, faster than strftime('%s')
        # without it (0.27 s vs 0.30 s a 500 000-row GROUP BY)
        whole = sa.func.substr(sa.type_coerce(dt, sa.String), 1, 19)
        if sqlite3.sqlite_version_info >= (3, 38):
            return sa.type_coerce(sa.func.unixepoch(whole), sa.Integer)
        return sa.cast(sa.func.strftime("%s", whole), sa.Integer)

    def greatest(self, a: sa.ColumnElement, b: sa.ColumnElement) -> sa.ColumnElement:
        return sa.func.max(a, b)  # scalar max() of two arguments

    def unix_seconds_sql(self, col: str) -> str:
        # DBI times are stored as text 'YYYY-MM-DD HH:MM:SS[.ffffff]'; whole seconds stay INTEGER and
        # fractional stamps REAL (10 Hz sources), as in the bridge
        frac = f"CAST(substr({col}, 20) AS REAL)"
        return (f"CASE WHEN length({col}) > 19 AND {frac} != 0 THEN CAST(strftime('%s', {col}) AS INTEGER) + {frac} "
                f"ELSE CAST(strftime('%s', {col}) AS INTEGER) END")

    def replace_view(self, conn: sa.Connection, name: str, select: str) -> None:
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")  # SQLite has no CREATE OR REPLACE VIEW
        conn.exec_driver_sql(f"CREATE VIEW {name} AS {select}")

    def time_type(self, engine: Engine, table: sa.Table, cfg: Any) -> sa.types.TypeEngine:
        """Text (either separator, any fraction) or unix-epoch numbers, told by the values themselves."""
        return timeforms.detect_sqlite(engine, table, cfg)


def _shortest(t: datetime) -> str:
    text = t.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{t.microsecond:06d}".rstrip("0") if t.microsecond else text


class MySQLImpl(DefaultImpl):
    __dialect__ = ("mysql", "mariadb")
    name = "mysql"
    functions = _COMMON + ("bit_and", "bit_or", "bit_xor")
    chain_length = 256  # MariaDB's compound statements; MySQL has none (chain.py checks)

    def autocommit(self, dbapi_conn: Any) -> None:
        dbapi_conn.autocommit(True)  # PyMySQL: a method, not an attribute

    def walk_table(self, stmt: sa.Select, table: sa.Table) -> sa.Select:
        return _hint(stmt, table, "FORCE INDEX (PRIMARY)")

    def walk_time_index(self, stmt: sa.Select, table: sa.Table) -> sa.Select:
        # InnoDB otherwise weighs a primary-key merge that costs a row lookup per entry
        return _hint(stmt, table, "IGNORE INDEX (PRIMARY)")

    def epoch_seconds(self, dt: sa.ColumnElement) -> sa.ColumnElement:
        # TIMESTAMPDIFF, unlike UNIX_TIMESTAMP, ignores the session time_zone
        return sa.type_coerce(sa.func.timestampdiff(sa.literal_column("SECOND"),
                                                    sa.literal_column("'1970-01-01 00:00:00'"), dt), sa.Integer)

    def int_div(self, a: sa.ColumnElement, b: sa.ColumnElement) -> sa.ColumnElement:
        return a.self_group().op("DIV")(b)  # the parentheses: DIV binds tighter than -

    def unix_seconds_sql(self, col: str) -> str:
        # TIMESTAMPDIFF ignores the session time_zone (UNIX_TIMESTAMP does not). A MariaDB view column
        # has one type: DOUBLE, exact to the microsecond for these magnitudes
        return f"TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', {col}) + MICROSECOND({col}) / 1e6"

    def time_type(self, engine: Engine, table: sa.Table, cfg: Any) -> sa.types.TypeEngine | None:
        col = table.c.date_time.type
        if not isinstance(col, (sa.DateTime, mysql.DATETIME, mysql.TIMESTAMP)):
            raise cfg.error("source", f'table "{table.name}" column date_time is {col}, not DATETIME or TIMESTAMP')
        return timeforms.ZeroDateTime()


class PostgreSQLImpl(DefaultImpl):
    __dialect__ = name = "postgresql"

    def off_index(self, cond: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        # PostgreSQL has no index hints. On a table without planner statistics (freshly loaded, not
        # analyzed yet), it took each range of an id-order search (date_time, id) to hold ~0.5 % of the
        # rows, their intersection a few, and read both ranges whole through a BitmapAnd, then sorted:
        # every row beyond the cursor per search (45 ms at 200 000 rows: a catch-up of them took 84 s,
        # 1.3 s with this). `(cond) IS TRUE` keeps the meaning (a NULL is not true either way), and no
        # index answers it: the primary key's ordered walk, stopped by LIMIT, is what is left
        return sa.type_coerce(cond.self_group().op("IS")(sa.true()), sa.Boolean)

    def ids_given(self, conn: sa.Connection, table: sa.Table) -> None:
        # a serial's sequence ignores given ids; only forward (a writer may have drawn beyond them), and
        # nothing for an id without a sequence (pg_get_serial_sequence gives NULL)
        name = conn.dialect.identifier_preparer.format_table(table)
        conn.execute(sa.text(
            "SELECT setval(s, greatest(m, coalesce(pg_sequence_last_value(s), 0))) FROM "
            f"(SELECT pg_get_serial_sequence(:name, 'id')::regclass AS s, (SELECT max(id) FROM {name}) AS m) AS x "
            "WHERE s IS NOT NULL AND m IS NOT NULL"), {"name": name})

    def aggregate(self, fn: str, x: sa.ColumnElement) -> sa.ColumnElement:
        if fn in _POP_STD:  # PostgreSQL's stddev()/variance() are the SAMPLE statistics
            return sa.func.stddev_pop(x)
        if fn in _POP_VAR:
            return sa.func.var_pop(x)
        return getattr(sa.func, fn)(x)

    def epoch_seconds(self, dt: sa.ColumnElement) -> sa.ColumnElement:
        # of a naive timestamp: as if UTC, like SQLite's strftime('%s') and MariaDB's TIMESTAMPDIFF
        return sa.cast(sa.func.floor(sa.extract("epoch", dt)), sa.BigInteger)

    def int_div(self, a: sa.ColumnElement, b: sa.ColumnElement) -> sa.ColumnElement:
        # bigint / integer is integer division (toward zero, like div()), and stays bigint: div() would
        # compute in numeric and hand Python a Decimal where a slice or bin index must be an int
        return a.self_group().op("/", return_type=sa.BigInteger)(b)

    def unix_seconds_sql(self, col: str) -> str:
        # EXTRACT(EPOCH) of a naive timestamp reads it as UTC, which DBI times are; it is numeric,
        # made double precision like MariaDB's view column (exact to the microsecond here)
        return f"CAST(EXTRACT(EPOCH FROM {col}) AS double precision)"

    def replace_view(self, conn: sa.Connection, name: str, select: str) -> None:
        # CREATE OR REPLACE VIEW may only append columns; DDL is transactional here, so dropping and
        # creating in the caller's transaction replaces the view atomically whatever changed
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE VIEW {name} AS {select}")

    def ranged_id(self, id_: sa.ColumnElement) -> sa.ColumnElement:
        # min(id)/max(id) WHERE <time window> is planned as a walk of the primary key from either end,
        # filtering on the time (as if LIMIT 1): max(id) passes every newer row, a chunk costs O(table)
        # (the averager 6x its raw GROUP BY). `id + 0` is no key: the window is read from the time index.
        return id_ + 0

    def thinned_time_type(self, engine: Engine, col: sa.Column, cfg: Any) -> sa.types.TypeEngine | None:
        if getattr(col.type, "timezone", False):  # instants: compared and read as naive UTC
            timeforms.need_utc(cfg, col.table, "timestamptz (instants)", col.name)
            return timeforms.UtcInstant()
        return None

    def time_type(self, engine: Engine, table: sa.Table, cfg: Any) -> sa.types.TypeEngine | None:
        col = table.c.date_time.type
        if not isinstance(col, (sa.DateTime, postgresql.TIMESTAMP)):
            raise cfg.error("source", f'table "{table.name}" column date_time is {col}, not timestamp or timestamptz')
        if getattr(col, "timezone", False):
            timeforms.need_utc(cfg, table, "timestamptz (instants)")
            return timeforms.UtcInstant()
        return None
