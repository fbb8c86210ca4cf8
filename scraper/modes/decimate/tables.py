"""The tables the decimator reads and keeps: the thinned table itself, its cursor, its rollup.

The cursor lives in the same database as the thinned table, so that deleting a slice's rows and
recording that the slice is done are one transaction: a process killed at any point leaves either
both or neither. One row per thinned table (not per section): two sections pointed at one table
share how far it is thinned. `watermark` is the highest id present when the last pass began; rows
above it that lie behind the cursor arrived late (see thinner.py). `keep_s`, the keep the last
thinning used, tells `scr.py status` why a cursor can lie past the horizon of the section's own keep
(a run with a shorter `--keep`); cursor tables from before it gain the column when a decimator next
starts on them (add_keep_column), and read as "keep unknown" until then.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from scraper import db
from scraper.api import Source
from scraper.config import Settings
from scraper.db import DateTime, dialects

CURSOR_TABLE = "decimator_cursor"
KEEP_COLUMN = "keep_s"
NUMERIC = (sa.Integer, sa.Numeric, sa.Float)


@dataclass
class TableSpec:
    """The thinned table as reflected: its id, time and group columns and the numeric ones rolled up."""

    table: sa.Table
    id: sa.Column
    time: sa.ColumnElement
    group: sa.Column | None
    numeric: list[sa.Column]

    @property
    def name(self) -> str:
        return self.table.name

    def partition(self) -> list[sa.ColumnElement]:
        return [self.group] if self.group is not None else []


def table_spec(engine: Engine, cfg: Settings, source: Source) -> TableSpec:
    """Reflect the regime's table; a missing time or group column is the operator's to fix."""
    table = db.reflect(engine, source.table, cfg, "source")
    if "id" not in table.c:
        raise cfg.error("source", f'table "{table.name}" has no column "id" (the decimator needs a unique id)')
    if source.time not in table.c:
        raise cfg.error("source", f'table "{table.name}" has no time column "{source.time}" '
                                  f"(the regime's Source(time=...) in {cfg.regime})")
    group_name = cfg.group_column or source.group
    if group_name and group_name not in table.c:
        key, where = ("group_column", "group_column") if cfg.group_column else ("regime", f"Source(group=...) in {cfg.regime}")
        known = ", ".join(c.name for c in table.c)
        raise cfg.error(key, f'table "{table.name}" has no column "{group_name}" ({where}; columns: {known})')
    skip = {"id", source.time, group_name}
    numeric = [c for c in table.c if c.name not in skip and isinstance(c.type, NUMERIC)]
    # a typed time column on every backend (a SQLite table made by hand may declare it TEXT;
    # PostgreSQL's timestamptz is read as naive UTC, dialects.py)
    col = table.c[source.time]
    typ = dialects.impl(engine).thinned_time_type(engine, col, cfg)
    time = sa.type_coerce(col, typ or DateTime) if typ is not None or not isinstance(col.type, sa.DateTime) else col
    return TableSpec(table, table.c.id, time, table.c[group_name] if group_name else None, numeric)


def cursor_table(metadata: sa.MetaData | None = None) -> sa.Table:
    return sa.Table(
        CURSOR_TABLE, metadata or sa.MetaData(),
        sa.Column("tablename", sa.String(128), primary_key=True),
        sa.Column("thinned_until_utc", DateTime, nullable=False),
        sa.Column("watermark", sa.BigInteger, nullable=False),
        sa.Column("every_s", sa.Integer, nullable=False),
        sa.Column("keep_rule", sa.String(8), nullable=False),
        sa.Column("updated_utc", DateTime, nullable=False),
        sa.Column(KEEP_COLUMN, sa.BigInteger, nullable=True),  # NULL: thinned before the column existed
    )


@dataclass(frozen=True)
class Cursor:
    until: datetime  # UTC slice boundary: every slice before it is thinned
    watermark: int
    every_s: int
    keep_rule: str
    keep_s: int | None = None  # the keep of the run that thinned up to `until`; None: not recorded


_has_keep: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()  # per engine, so per run


def _keep_known(conn: Connection) -> bool:
    """Whether this cursor table has the keep column (one look per engine: it is added at start-up,
    before any read, or not at all)."""
    engine = conn.engine
    if engine not in _has_keep:
        _has_keep[engine] = KEEP_COLUMN in {c["name"] for c in sa.inspect(conn).get_columns(CURSOR_TABLE)}
    return _has_keep[engine]


def add_keep_column(conn: Connection) -> None:
    """A cursor table written before the keep was recorded gains its (nullable) column."""
    if KEEP_COLUMN not in {c["name"] for c in sa.inspect(conn).get_columns(CURSOR_TABLE)}:
        quote = conn.dialect.identifier_preparer.quote
        conn.execute(sa.text(f"ALTER TABLE {quote(CURSOR_TABLE)} ADD COLUMN {quote(KEEP_COLUMN)} "
                             f"{sa.BigInteger().compile(dialect=conn.dialect)}"))
    _has_keep.pop(conn.engine, None)


def read_cursor(conn: Connection, table: sa.Table, name: str) -> Cursor | None:
    columns = [table.c.thinned_until_utc, table.c.watermark, table.c.every_s, table.c.keep_rule]
    if _keep_known(conn):
        columns.append(table.c[KEEP_COLUMN])
    row = conn.execute(sa.select(*columns).where(table.c.tablename == name)).first()
    return None if row is None else Cursor(*row)


def write_cursor(conn: Connection, table: sa.Table, name: str, cursor: Cursor, now: datetime) -> None:
    values = {"thinned_until_utc": cursor.until, "watermark": cursor.watermark, "every_s": cursor.every_s,
              "keep_rule": cursor.keep_rule, "updated_utc": now, KEEP_COLUMN: cursor.keep_s}
    done = conn.execute(table.update().where(table.c.tablename == name).values(**values)).rowcount
    if not done:
        conn.execute(table.insert().values(tablename=name, **values))


def rollup_columns(spec: TableSpec) -> list[sa.Column]:
    cols = [sa.Column("slice_utc", DateTime, nullable=False)]
    if spec.group is not None:
        cols.append(sa.Column(spec.group.name, spec.group.type))
    cols += [sa.Column("count", sa.Integer, nullable=False), sa.Column("kept_id", sa.BigInteger)]
    for c in spec.numeric:
        cols += [sa.Column(f"{c.name}_avg", sa.Double), sa.Column(f"{c.name}_min", sa.Double),
                 sa.Column(f"{c.name}_max", sa.Double)]
    return cols


def rollup_table(name: str, spec: TableSpec, metadata: sa.MetaData | None = None) -> sa.Table:
    """Per slice and group: count and avg/min/max of every numeric column over all of the slice's
    entries, and the id of the entry kept (so that late entries can be merged in exactly once)."""
    key = ["slice_utc"] + ([spec.group.name] if spec.group is not None else [])
    return sa.Table(name, metadata or sa.MetaData(), *rollup_columns(spec),
                    # unique: a re-run (a cursor dropped by hand, say) can never add a second row
                    sa.Index(f"{name}_slice", *key, unique=True), mysql_engine="InnoDB")


def check_rollup(engine: Engine, cfg: Settings, table: sa.Table) -> bool:
    """True when the rollup table exists with our columns; False when it does not exist yet."""
    if not db.table_exists(engine, table.name):
        return False
    have = [c["name"] for c in sa.inspect(engine).get_columns(table.name)]
    want = [c.name for c in table.c]
    if sorted(have) != sorted(want):
        missing = [n for n in want if n not in have]
        extra = [n for n in have if n not in want]
        what = "; ".join(p for p in (f"missing {', '.join(missing)}" if missing else "",
                                     f"unexpected {', '.join(extra)}" if extra else "") if p)
        raise cfg.error("rollup", f'table "{table.name}" exists with another schema ({what}): choose another '
                                  "rollup table or move this one away")
    return True
