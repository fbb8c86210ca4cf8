"""Values of the wrong kind in numeric source columns: read as NULL, counted, logged once.

SQLite stores whatever it is given: text (`'n/a'`, a mistyped value) or a blob in a FLOAT column,
and ±inf; PostgreSQL's double precision holds NaN and ±Infinity. A regime's `changed()` computing
`abs(new - old)` on such a value raised, and a scraper that raises on an entry raises on it again
after every restart: one bad row stalled a section for good. So every value of a numeric column that
is not a finite number is treated as NULL, wherever an entry is read into Python (batches, searches,
the bridge), counted per column, and logged once per column and spell (text, blob, nan, inf, -inf)
with the entry's id. The SQL form of a change rule agrees: on SQLite, where such values stay in the
table, the skip search also stops at every entry holding one (`wrong_kind`), and Python judges it as
it judges any entry it sees (with NULL); aggregates and rollups skip them (`numbers`).
"""
from __future__ import annotations

import logging
import math
from collections import Counter
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, Sequence

import sqlalchemy as sa

log = logging.getLogger("scraper.kinds")
NUMERIC = (sa.Float, sa.Numeric, sa.Integer)
_NUMBERS = {float, int, type(None)}
MAX = "1.7976931348623157e308"  # the largest double: SQLite orders text and blobs above every number


def spell(value: Any) -> str | None:
    """None for a value Python can compute with (a finite number, or NULL); else what it is."""
    kind = type(value)
    if kind is float:
        if math.isfinite(value):
            return None
        return "nan" if value != value else ("inf" if value > 0 else "-inf")
    if value is None or kind is int or kind is bool:
        return None
    if kind is Decimal:
        return None if value.is_finite() else str(value).lower()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "blob"
    if isinstance(value, str):
        return "text"
    return kind.__name__


def numeric_columns(columns: Sequence[sa.ColumnElement]) -> list[str]:
    """The names of the columns the source declares numeric (their values must be numbers)."""
    out = []
    for c in columns:
        typ = getattr(c, "type", None)
        if isinstance(typ, NUMERIC) and not isinstance(typ, sa.Boolean) and c.name not in ("id",):
            out.append(c.name)
    return out


class Kinds:
    """The numeric columns of one source (`names` of a row, in order) and what was found in them."""

    def __init__(self, table: str, names: Sequence[str], numeric: Sequence[str]):
        self.table, self.names = table, list(names)
        self.at = [self.names.index(n) for n in numeric if n in self.names]
        self.at_id = self.names.index("id") if "id" in self.names else None
        self.counts: Counter[str] = Counter()
        self._said: set[tuple[str, str]] = set()
        at = [self.names[k] for k in self.at]
        # an entry's numeric values at once (C level), for instance(): a tuple whatever their number
        self._values = itemgetter(*at) if len(at) > 1 else (lambda inst: (inst[at[0]],)) if at else None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def rows(self, rows: list) -> list:
        """A batch of driver rows (tuples) with every wrong value replaced by None. A column of finite
        numbers (nearly every one) is told by one C-level sum; a column with NULLs by a few passes;
        only a column holding something else is looked at value by value. (This runs on every entry
        a batch catch-up reads: its first form, a list and a set of types per column, cost a free-form
        catch-up ~10 % of its time.)"""
        if not self.at or not rows:
            return rows
        bad: set[int] = set()
        for k in self.at:
            try:  # numbers only add up (None, text, a blob, float + Decimal raise), to a finite sum only
                if math.isfinite(sum(map(itemgetter(k), rows))):  # if every one is finite (or it overflowed)
                    continue
            except (TypeError, ValueError, ArithmeticError):
                pass
            column = list(map(itemgetter(k), rows))
            kinds = set(map(type, column))
            if kinds <= _NUMBERS:
                if float not in kinds:
                    continue
                try:  # the sum of all of them failed above: its numbers, NULLs left out
                    if math.isfinite(sum([v for v in column if v is not None])):
                        continue
                except OverflowError:  # an int beyond a float's range
                    pass
            bad.update(n for n, v in enumerate(column) if spell(v) is not None)
        if not bad:
            return rows
        out = list(rows)
        for n in sorted(bad):
            out[n] = tuple(self._cleaned(list(out[n])))
        return out

    def _cleaned(self, row: list) -> list:
        for k in self.at:
            what = spell(row[k])
            if what is not None:
                self._found(self.names[k], what, row[k], row[self.at_id] if self.at_id is not None else None)
                row[k] = None
        return row

    def instance(self, inst: dict) -> dict:
        """One entry (a mapping), cleaned in place. Values that are all finite numbers (nearly every
        entry: a search's candidate, one per search) are told by a few C-level passes; else each is
        looked at."""
        if self._values is None:
            return inst
        try:  # numbers only add up (None, text, a blob, float + Decimal raise), and to a finite sum only
            if math.isfinite(sum(self._values(inst))):  # if every one is finite (or the sum overflowed)
                return inst
        except (KeyError, TypeError, ValueError, ArithmeticError):  # KeyError: a column it lacks, read as None
            pass
        for k in self.at:
            name = self.names[k]
            value = inst.get(name)
            if type(value) is float and value - value == 0.0:  # a finite float (inf - inf and NaN are NaN):
                continue  # nearly every value, told without a call (the skip search's candidate, per search)
            what = spell(value)
            if what is not None:
                self._found(name, what, value, inst.get("id"))
                inst[name] = None
        return inst

    def _found(self, column: str, what: str, value: Any, id_: Any) -> None:
        self.counts[column] += 1
        if (column, what) not in self._said:
            self._said.add((column, what))
            shown = value if what != "blob" else bytes(value)[:16]
            log.warning("%s.%s: entry id=%s holds %s %r, not a number: read as NULL (logged once per column "
                        "and kind; counted in the summary)", self.table, column, id_, what, shown)


def wrong_kind(dialect: str, col: sa.ColumnElement) -> sa.ColumnElement[bool] | None:
    """SQL true where a numeric column holds what Python reads as NULL (spell), for a skip search
    that must stop there; None where the backend keeps nothing of the kind the rule's SQL would miss
    (PostgreSQL: NaN and Infinity already make every comparison a change; MariaDB stores neither)."""
    if dialect != "sqlite":
        return None
    # text and blobs sort above every number in SQLite, +inf is above the largest double, -inf below;
    # one NOT BETWEEN costs the search ~35 % more per row, two comparisons ~60 % (measured, 400 k rows)
    return sa.not_(col.between(sa.literal_column("-" + MAX), sa.literal_column(MAX)))


def numbers(dialect: str, col: sa.ColumnElement) -> sa.ColumnElement:
    """`col` with what is not a finite number as NULL, for aggregates (avg, min, max) in SQL."""
    if dialect == "sqlite":
        return sa.case((col.between(sa.literal_column("-" + MAX), sa.literal_column(MAX)), col))
    wrong = not_number(dialect, col)
    return col if wrong is None else sa.case((wrong, sa.null()), else_=col)


def not_number(dialect: str, col: sa.ColumnElement) -> sa.ColumnElement[bool] | None:
    """SQL true exactly where `numbers` makes NULL what is not: to find (and count) the entries an
    aggregate skipped. None where the column holds nothing of the kind (MariaDB, integer columns of
    PostgreSQL)."""
    if dialect == "sqlite":
        return wrong_kind(dialect, col)
    if dialect == "postgresql" and isinstance(col.type, sa.Float):
        return sa.or_(col == sa.literal_column("'NaN'::float8"), sa.func.abs(col) == sa.literal_column("'Infinity'::float8"))
    return None


_INT_LIMITS = ((sa.SmallInteger, 2 ** 15), (sa.BigInteger, 2 ** 63), (sa.Integer, 2 ** 31))
FLOAT32_MAX = 3.4028234663852886e38


class TargetFit:
    """The numeric columns of a target table and what each can hold: a value it cannot (not a finite
    number, or beyond its range: 1e39 in a MariaDB FLOAT, 2**31 in an INTEGER) is written as NULL,
    counted and logged once per column and spell, rather than failing the transaction on every retry."""

    def __init__(self, table: str, columns: Sequence[sa.Column], dialect: str):
        self.table = table
        self.limits: dict[str, float | None] = {}
        for c in columns:
            typ = c.type
            if not isinstance(typ, NUMERIC) or isinstance(typ, sa.Boolean) or c.name in ("SEQNO", "ROW_COUNTER"):
                continue
            limit: float | None = None
            if isinstance(typ, sa.Integer):
                limit = next(n for kind, n in _INT_LIMITS if isinstance(typ, kind))
            elif isinstance(typ, sa.Float) and dialect in ("mysql", "mariadb") and not isinstance(typ, sa.Double) \
                    and (typ.precision is None or typ.precision <= 24):
                limit = FLOAT32_MAX
            elif isinstance(typ, sa.REAL) and dialect == "postgresql":
                limit = FLOAT32_MAX
            self.limits[c.name] = limit
        self.counts: Counter[str] = Counter()
        self._said: set[tuple[str, str]] = set()
        names, bounds = list(self.limits), set(self.limits.values())
        # a row's numeric values at once (C level), and the one limit they share, for row()
        self._values = (itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))) \
            if names and len(bounds) == 1 else None
        self._limit = next(iter(bounds)) if len(bounds) == 1 else None

    def row(self, row: dict[str, Any], timestart: datetime) -> dict[str, Any]:
        """`row` with what its column cannot hold as NULL. Finite numbers within the columns' common
        limit (nearly every row: one per propagation) are told by a few C-level passes. `timestart`
        (the record's, UTC) is what a log line names the row by, spelled only then."""
        if self._values is not None:
            try:  # as Kinds.instance; a column's limit holds for every value within the largest
                values = self._values(row)
                if math.isfinite(sum(values)) and (self._limit is None or max(map(abs, values)) < self._limit):
                    return row
            except (KeyError, TypeError, ValueError, ArithmeticError):
                pass
        for name, limit in self.limits.items():
            value = row.get(name)
            if value is None or (limit is None and type(value) is float and value - value == 0.0):
                continue  # NULL, or a finite float a double column holds: nearly every value, told without a call
            what = spell(value)
            if what is None and limit is not None and not -limit <= value < limit:
                what = "out of range"
            if what is not None:
                row[name] = None
                self.counts[name] += 1
                if (name, what) not in self._said:
                    self._said.add((name, what))
                    log.warning("%s.%s: %s %r (TIMESTART %s UTC) cannot be held by the column: written as NULL "
                                "(logged once per column and kind)", self.table, name, what, value, timestart)
        return row
