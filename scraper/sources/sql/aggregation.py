"""Generic aggregation (docs/aggregation.md): SQL aggregates of every source column, computed by the database.

`aggregate = avg,min,max,std` makes `sv[-1].aggd` available at each PROCEED: a mapping keyed
`<column>_<fn>` plus the count key, over the source entries with sv[0].t <= date_time < sv[-1].t that
pass `aggregate_filter`. It is lazy: the ONE aggregate query runs the first time the regime touches
`aggd`, so regimes that do not use it cost nothing, and catching up over a million entries never pulls
rows into Python just to average them.

std/variance are POPULATION statistics on every backend (MariaDB's STD() is; SQLite has no such
aggregate and PostgreSQL's stddev() is the sample one: scraper/db/dialects.py writes each; on SQLite
sqrt(avg(x*x) - avg(x)^2) agrees with Python's statistics.pstdev to ~1e-7 absolute for DCS-sized
values; see docs/aggregation.md).

Trust model: `aggregate_filter` is an SQL fragment pasted into the WHERE clause. It comes from the
operator's config file — the same person who holds the DB credentials — never from source data, so it is
not escaped; it is checked once at start-up by running it against the source.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import Label

from scraper.config import Settings
from scraper.db import dialects
from scraper.runtime.retry import OTHER, classify, schema_changed
from scraper.db.kinds import NUMERIC, numbers, spell

# which backend has which (the config's AGGREGATE_FUNCTIONS is their union)
FUNCTIONS: dict[str, tuple[str, ...]] = {name: dialects.impl(name).functions
                                         for name in ("sqlite", "mysql", "mariadb", "postgresql")}


def check_functions(cfg: Settings, dialect: str) -> tuple[str, ...]:
    """The configured aggregate names, lower-cased, or a ConfigError naming `aggregate`."""
    known = dialects.impl(dialect).functions
    names = tuple(n.lower() for n in cfg.aggregate)
    for name in names:
        if name not in known:
            raise cfg.error("aggregate", f'"{name}" is not an aggregate function the scraper supports on '
                                         f'{dialect} (use {", ".join(known)})')
    if len(set(names)) != len(names):
        raise cfg.error("aggregate", "names a function twice")
    return names


def aggregate_expr(fn: str, x: sa.ColumnElement, dialect: str) -> sa.ColumnElement:
    """`fn(x)` in SQL, population statistics on every backend (dialects.py)."""
    return dialects.impl(dialect).aggregate(fn, x)


def _plain(value: Any) -> Any:
    # MariaDB returns DECIMAL for avg/sum of exact types; aggd values must not depend on the backend.
    return float(value) if isinstance(value, Decimal) else value


class AggregateSpec:
    """Which columns are aggregated with which functions, and how one result row becomes `aggd`."""

    def __init__(self, cfg: Settings, columns: list[tuple[str, sa.ColumnElement]], dialect: str):
        self.cfg, self.dialect = cfg, dialect
        self.functions = check_functions(cfg, dialect)
        skips = {s.lower() for s in cfg.aggregate_skips}
        self.columns = [(name, expr) for name, expr in columns if name.lower() not in skips]
        self.count_key = cfg.aggregate_count or "count"
        self.keys = [f"{name}_{fn}" for name, _ in self.columns for fn in self.functions]

    @staticmethod
    def of_query(query: sa.Select) -> list[tuple[str, sa.ColumnElement]]:
        """(name, expression) of every column a reader selects (joined columns keep their labels)."""
        out = []
        for col in query.selected_columns:
            expr = col.element if isinstance(col, Label) else col
            out.append((col.key, expr))
        return out

    def select_list(self, clean: bool = False) -> list[sa.ColumnElement]:
        """The aggregates; with `clean`, of the numeric columns' finite numbers only (db/kinds.py).
        Without, it adds each numeric column's min and max: cheap, and not finite (text sorts above
        every number in SQLite, NaN above every number in PostgreSQL) exactly when the column holds
        a value of the wrong kind. Then (`suspect`) the query is run again `clean`: wrapping every
        value in a CASE would cost ~70 % more per entry on SQLite, for rows that nearly never need it."""
        cols = [sa.func.count().label(self.count_key)]
        if not clean:
            self._checks: set[str] = set()
        for k, (name, expr) in enumerate(self.columns):
            numeric = isinstance(expr.type, NUMERIC) and self.dialect not in ("mysql", "mariadb")
            value = numbers(self.dialect, expr) if clean and numeric else expr
            for fn in self.functions:
                cols.append(aggregate_expr(fn, value, self.dialect).label(f"{name}_{fn}"))
            if numeric and not clean:  # the configured min and max serve, when they are
                for fn in ("min", "max"):
                    label = f"{name}_{fn}" if fn in self.functions else f"_{fn}{k}"
                    if fn not in self.functions:
                        cols.append(getattr(sa.func, fn)(expr).label(label))
                    self._checks.add(label)
        return cols

    def suspect(self, rows: Any) -> bool:
        """Whether the min and max of `select_list()` show a value of the wrong kind in `rows`."""
        checks = getattr(self, "_checks", ())
        return any(spell(row[key]) is not None for row in rows for key in checks)

    def filter(self) -> sa.ColumnElement[bool] | None:
        text = self.cfg.aggregate_filter
        return sa.text(f"({text})") if text else None

    def aggd(self, row: Mapping[str, Any] | None) -> dict[str, Any]:
        """Result row -> aggd; zero matching entries give count 0 and None (or aggregate_none)."""
        none = self.cfg.aggregate_none
        out: dict[str, Any] = {self.count_key: int(row[self.count_key]) if row else 0}
        for key in self.keys:
            value = _plain(row[key]) if row else None
            out[key] = none if value is None else value
        return out


class LazyAggd(Mapping):
    """`sv[-1].aggd`: runs its query on first use and keeps the result."""

    def __init__(self, compute: Callable[[], dict[str, Any]]):
        self._compute = compute
        self._data: dict[str, Any] | None = None

    @property
    def evaluated(self) -> bool:
        return self._data is not None

    def _d(self) -> dict[str, Any]:
        if self._data is None:
            self._data = self._compute()
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._d()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d())

    def __len__(self) -> int:
        return len(self._d())

    def __repr__(self) -> str:
        return f"LazyAggd({self._data!r})" if self.evaluated else "LazyAggd(<not queried>)"


class Aggregator:
    """The scraper-mode aggregate query of one source: one statement per PROCEED window."""

    def __init__(self, engine: Engine, query: sa.Select, dt: sa.ColumnElement, cfg: Settings):
        self.engine, self.dt, self.cfg = engine, dt, cfg
        self.spec = AggregateSpec(cfg, AggregateSpec.of_query(query), engine.dialect.name)
        where = self.spec.filter()
        self.stmt, self.clean = (query.with_only_columns(*self.spec.select_list(clean)) for clean in (False, True))
        if where is not None:
            self.stmt, self.clean = self.stmt.where(where), self.clean.where(where)
        self.queries = 0
        self._probe()

    def _probe(self) -> None:
        """Run the statement over an empty window so a bad aggregate_filter (or a function the server
        lacks) stops the run at start-up with one line, not at the first PROCEED hours later."""
        try:
            with self.engine.connect() as conn:
                # date_time IS NULL: an empty, indexed window (sa.false() would let SQLAlchemy drop the filter)
                conn.execute(self.stmt.where(self.dt.is_(None))).first()
        except DBAPIError as exc:
            if classify(exc) != OTHER and not schema_changed(exc):  # a column aggregate_filter names: its key
                raise  # an outage (or a stop cancelling the statement) for the runner's retrier
            reason = str(getattr(exc, "orig", exc)).splitlines()[0]
            key = "aggregate_filter" if self.cfg.aggregate_filter else "aggregate"
            raise self.cfg.error(key, f"the aggregate query fails on the source: {reason}") from None

    def compute(self, start: datetime, end: datetime) -> dict[str, Any]:
        self.queries += 1
        window = (self.dt >= start, self.dt < end)
        with self.engine.connect() as conn:
            row = conn.execute(self.stmt.where(*window)).mappings().first()
            if row is not None and self.spec.suspect([row]):  # a value of the wrong kind: without it
                self.queries += 1
                row = conn.execute(self.clean.where(*window)).mappings().first()
        return self.spec.aggd(row if row and row[self.spec.count_key] else None)

    def lazy(self, start: datetime, end: datetime) -> LazyAggd:
        return LazyAggd(lambda: self.compute(start, end))


def not_null_columns(engine: Engine, kls: str) -> set[str]:
    """Payload columns the target declares NOT NULL (DBI tables made by other tools often do)."""
    cols = sa.inspect(engine).get_columns(kls)
    return {c["name"] for c in cols if not c.get("nullable", True)} - {"SEQNO", "ROW_COUNTER"}


def check_rows(cfg: Settings, kls: str, not_null: set[str], rows: list[dict[str, Any]],
               aggd: Mapping[str, Any] | None, window: tuple[datetime, datetime]) -> None:
    """Refuse, before anything is written, a None headed for a NOT NULL column; when it comes from an
    aggregate over zero entries the fix is `aggregate_none`, so the error names that key."""
    for row in rows:
        for col in not_null:
            if row.get(col) is not None:
                continue
            empty = isinstance(aggd, LazyAggd) and aggd.evaluated and aggd[cfg.aggregate_count or "count"] == 0
            if empty and cfg.aggregate_none is None:
                raise cfg.error("aggregate_none", f"no source entry in [{window[0]}, {window[1]}) passed the "
                                f"aggregate (filter: {cfg.aggregate_filter or 'none'}), so {col} is None but "
                                f"{kls}.{col} is NOT NULL: set aggregate_none (e.g. aggregate_none = 0)")
            raise cfg.error("kls", f"propagate() gave None for {kls}.{col}, which is NOT NULL")


def sqrt_available(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT sqrt(4.0)")).scalar()
        return True
    except DBAPIError:
        return False


def ensure_sqlite_math(engine: Engine) -> None:
    """Older SQLite builds lack sqrt(); give every connection of this engine Python's."""
    if engine.dialect.name != "sqlite" or sqrt_available(engine):
        return

    @sa.event.listens_for(engine, "connect")
    def _math(dbapi_conn, _record):  # pragma: no cover - only on SQLite builds without math functions
        dbapi_conn.create_function("sqrt", 1, lambda v: None if v is None else math.sqrt(v), deterministic=True)

    engine.dispose()
