"""How a source's `date_time` column is spelled, and SQL types that compare it exactly.

Real DCS databases are not written by SQLAlchemy. An SQLite table filled by Python's `sqlite3` or by a
C program holds text such as `2011-02-01 00:02:10` (no fraction; SQLAlchemy writes and compares
`2011-02-01 00:02:10.000000`), `2011-02-01T00:02:10.5`, or unix-epoch numbers. Compared as SQLAlchemy
compares them, the entry exactly at the cursor is never read (`...:10` < `...:10.000000`) or a catch-up
never ends (`T` sorts after every space-separated bound). The types here fix that in SQL, on the
column itself, so that every statement any module builds from it (`dt >= t`, `dt == t`, `dt.in_()`,
min/max, ORDER BY) is exact and still an index range:

* text: a time is bound as `YYYY-MM-DD?HH:MM:SS.ffffff` (the table's separator) and a comparison is
  rewritten against the shortest (`rtrim` of zeros and the dot) or a one-digit-longer spelling, so any
  number of fraction digits, mixed in one table, compares as the time it spells;
* epoch numbers: bound as seconds, compared with half a microsecond of slack (values are read back
  rounded to the microsecond); unix time is UTC, so such a column needs `source_tz = UTC`;
* MariaDB zero dates (`0000-00-00 00:00:00`) read as None rather than as a string (they sort before
  every time, so timefloor keeps them out of every window);
* PostgreSQL `timestamptz`: instants, read and bound as naive UTC (`source_tz = UTC`).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from operator import attrgetter, itemgetter
from typing import Any, Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BindParameter

from scraper.errors import OperatorError

EPOCH = datetime(1970, 1, 1)
TEXT_TIME = re.compile(r"^\d{4}-\d\d-\d\d([ T])\d\d:\d\d:\d\d(\.\d{1,9})?$")
_HALF_MICRO = "0.0000005"
_COMPARISONS = {operators.ge, operators.gt, operators.lt, operators.le, operators.eq, operators.ne}


class NotATime(OperatorError, ValueError):
    """A value in a time column that spells no time of the form found at start-up: one line, exit 2,
    rather than a loop over a column that cannot be ordered as time."""

    def __init__(self, where: str, value: Any, form: str):
        super().__init__(f"{where}: {value!r} is not a time of this column's form ({form}); "
                         "a time column must hold one form (see docs/config.md, Backends)")


def text_form(sep: str) -> str:
    return f"text 'YYYY-MM-DD{sep}HH:MM:SS[.ffffff]'"


def parse_text(value: str, sep: str, where: str = "date_time") -> datetime:
    n = len(value)
    if ((n == 19 or (n == 26 and value[19] == ".")) and value[10] == sep and value[4] == value[7] == "-"
            and value[13] == value[16] == ":"):
        # the common spellings, whole seconds or microseconds (SQLAlchemy's): fromisoformat alone
        # (~0.3 us; the check and slicing below cost as much again per entry read). It reads ASCII
        # digits only, so what it accepts here without a UTC offset is exactly what TEXT_TIME does;
        # the rest goes to the full check, which names it
        try:
            t = datetime.fromisoformat(value)
        except ValueError:
            t = None
        if t is not None and t.tzinfo is None:
            return t
    if len(value) < 19 or value[10] != sep or not TEXT_TIME.match(value):
        raise NotATime(where, value, text_form(sep))
    head, _, frac = value.partition(".")
    # fromisoformat (C, ~0.3 us) rather than strptime (~30 us): the pattern is checked above, and six
    # fraction digits (truncated, as ever) are a form every Python version reads
    try:
        return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}" if frac else head)
    except ValueError:  # the form, but no time: month 13, February 30, 24:00
        raise NotATime(where, value, text_form(sep)) from None


_SEPARATORS = itemgetter(4, 7, 10, 13, 16)
_AT_19 = itemgetter(slice(19, 20))
_TZINFO = attrgetter("tzinfo")


def parse_texts(values: Sequence[Any], sep: str) -> list[datetime] | None:
    """A whole column of text times (a batch of entries read) when every value is one of the common
    spellings parse_text reads with fromisoformat alone (whole seconds or microseconds, `sep`, no UTC
    offset): a few C-level passes, ~0.2 us a value instead of ~0.8 one by one. None otherwise: the
    caller reads them one by one, which names the value that is not a time."""
    try:
        times = list(map(datetime.fromisoformat, values))
    except (TypeError, ValueError):  # None, a number, another spelling
        return None
    lengths = set(map(len, values))
    if lengths <= {19, 26} and _spelled(values, lengths, sep) and not any(map(_TZINFO, times)):
        return times
    return None


def _spelled(values: Sequence[str], lengths: set[int], sep: str) -> bool:
    """Every value has the separators of the form at their places (and a '.' before a fraction)."""
    if len(lengths) != 1:  # both spellings: value by value
        return (set(map(_SEPARATORS, values)) <= {("-", "-", sep, ":", ":")}
                and set(map(_AT_19, values)) <= {"", "."})
    (width,) = lengths  # one spelling throughout, as a column nearly always is: a separator's place at once
    text, n = "".join(values), len(values)
    marks = {4: "-", 7: "-", 10: sep, 13: ":", 16: ":", **({19: "."} if width == 26 else {})}
    return all(text[k::width] == mark * n for k, mark in marks.items())


def time_bounds(col: sa.ColumnElement) -> tuple[sa.ColumnElement, sa.ColumnElement, bool]:
    """(low, high, strict) of a row's own time: every spelling of that time is >= low and <= high (< high
    unless `strict`), as for a bound time (_RangeTime.compare). Selected with a row a statement finds
    itself, they bound what it compares with that row's time (counting.counted_search) at no cost per
    row compared."""
    typ = col.type
    if not isinstance(typ, _RangeTime):
        return col, col, True
    value = typ.spelled(col)
    return typ.low(value), typ.high(value), typ.strict_high


def epoch_of(t: datetime) -> float:
    return (t - EPOCH) / timedelta(seconds=1)


def from_epoch(value: float) -> datetime:
    return EPOCH + timedelta(microseconds=round(float(value) * 1_000_000))


class _RangeComparator(sa.types.TypeDecorator.Comparator):
    """Rewrites comparisons with a value (or bound parameter) through the type's `bounds`."""

    def operate(self, op: Any, *other: Any, **kw: Any) -> Any:
        value = other[0] if other else None
        default = super().operate
        if op in _COMPARISONS and _is_value(value):
            return self.type.compare(self.expr, op, value, default)
        if op is operators.in_op and isinstance(value, (list, tuple)) and all(_is_value(v) for v in value):
            return sa.or_(*[self.type.compare(self.expr, operators.eq, v, default) for v in value])
        return default(op, *other, **kw)


def _is_value(value: Any) -> bool:
    return isinstance(value, (datetime, BindParameter))


class _RangeTime(sa.types.TypeDecorator):
    """Base of the spelled types: `low(v)` and `high(v)` bracket every stored spelling of time v, so
    `dt >= v` is `dt >= low`, `dt > v` is `dt > high` (or `>=` for numbers), and so on."""

    cache_ok = True
    comparator_factory = _RangeComparator
    strict_high = True  # dt > high means "after v" (text); False: dt >= high (numbers)

    def _bind(self, value: Any) -> sa.ColumnElement:
        return value if isinstance(value, BindParameter) else sa.bindparam(None, value, type_=self)

    def spelled(self, value: sa.ColumnElement) -> sa.ColumnElement:
        """A row's own time as this type binds a time (see time_bounds)."""
        return value

    def low(self, bind: sa.ColumnElement) -> sa.ColumnElement:
        raise NotImplementedError

    def high(self, bind: sa.ColumnElement) -> sa.ColumnElement:
        raise NotImplementedError

    def compare(self, expr: sa.ColumnElement, op: Any, value: Any,
                default: Callable[..., sa.ColumnElement]) -> sa.ColumnElement:
        bind = self._bind(value)
        after = operators.gt if self.strict_high else operators.ge
        upto = operators.le if self.strict_high else operators.lt
        if op is operators.ge:
            return default(operators.ge, self.low(bind))
        if op is operators.lt:
            return default(operators.lt, self.low(bind))
        if op is operators.gt:
            return default(after, self.high(bind))
        if op is operators.le:
            return default(upto, self.high(bind))
        equal = sa.and_(default(operators.ge, self.low(bind)), default(upto, self.high(bind))).self_group()
        return equal if op is operators.eq else sa.not_(equal)


class TextTime(_RangeTime):
    """SQLite text times with separator `sep` (' ' or 'T') and any number of fraction digits."""

    impl = sa.String
    cache_ok = True

    def __init__(self, sep: str = " ", where: str = "date_time"):
        super().__init__()
        self.sep, self.where = sep, where

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, datetime):
            if value.year >= 1000 and value.tzinfo is None:  # isoformat spells those as strftime does, 4x faster
                return value.isoformat(self.sep, "microseconds")
            return value.strftime(f"%Y-%m-%d{self.sep}%H:%M:%S.%f")
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None or isinstance(value, datetime):
            return value
        if not isinstance(value, str):
            raise NotATime(self.where, value, text_form(self.sep))
        return parse_text(value, self.sep, self.where)

    def spelled(self, value: sa.ColumnElement) -> sa.ColumnElement:
        # as a bound time is spelled: six fraction digits, further ones dropped, as parse_text reads them
        return sa.type_coerce(sa.case((sa.func.length(value) == 19, value.op("||")(sa.literal_column("'.000000'"))),
                                      else_=sa.func.substr(value.op("||")(sa.literal_column("'000000'")), 1, 26)),
                              sa.String)

    def process_column(self, values: Sequence[Any]) -> list[datetime | None]:
        """process_result_value over a whole column (db.PreparedQuery.converted)."""
        times = parse_texts(values, self.sep)
        return times if times is not None else [self.process_result_value(v, None) for v in values]

    def low(self, bind: sa.ColumnElement) -> sa.ColumnElement:
        # the shortest spelling: every spelling of the same time is it plus zeros, hence >= it
        return sa.type_coerce(sa.func.rtrim(sa.func.rtrim(bind, sa.literal_column("'0'")), sa.literal_column("'.'")),
                              sa.String)

    def high(self, bind: sa.ColumnElement) -> sa.ColumnElement:
        # seven fraction digits: >= every spelling of this time (up to seven digits), < any later time
        return sa.type_coerce(bind.op("||")(sa.literal_column("'0'")), sa.String)

    @property
    def python_type(self) -> type:
        return datetime


class EpochTime(_RangeTime):
    """Unix-epoch seconds (SQLite INTEGER or REAL): UTC by definition."""

    impl = sa.Float
    cache_ok = True
    strict_high = False

    def __init__(self, where: str = "date_time"):
        super().__init__()
        self.where = where

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return epoch_of(value) if isinstance(value, datetime) else value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None or isinstance(value, datetime):
            return value
        if isinstance(value, (str, bytes)):
            raise NotATime(self.where, value, "unix-epoch seconds")
        return from_epoch(value)

    def low(self, bind: sa.ColumnElement) -> sa.ColumnElement:
        return sa.type_coerce(bind - sa.literal_column(_HALF_MICRO), sa.Float)

    def high(self, bind: sa.ColumnElement) -> sa.ColumnElement:
        return sa.type_coerce(bind + sa.literal_column(_HALF_MICRO), sa.Float)

    @property
    def python_type(self) -> type:
        return datetime


class ZeroDateTime(sa.types.TypeDecorator):
    """MariaDB/MySQL DATETIME or TIMESTAMP where DCS wrote zero dates: PyMySQL returns those (and other
    invalid dates) as strings; they are no time, so None."""

    impl = sa.DateTime
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if isinstance(value, (str, bytes)) else value

    @property
    def python_type(self) -> type:
        return datetime


class UtcInstant(sa.types.TypeDecorator):
    """PostgreSQL `timestamptz`: bound and read as naive UTC, whatever the session's TimeZone."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(timezone.utc).replace(tzinfo=None)
        return value


# --- telling a column's form (dialects.py asks) -------------------------------------------------------
UTC_ZONES = ("UTC", "Etc/UTC", "Zulu", "Etc/Zulu", "GMT", "Etc/GMT")
_SAMPLE = 40  # rows looked at to tell a time column's form: the first and last by id, earliest, latest


def column_where(cfg: Any, table: sa.Table) -> str:
    return str(cfg.error("source", f'table "{table.name}" column date_time'))


def need_utc(cfg: Any, table: sa.Table, what: str, column: str = "date_time") -> None:
    if cfg.source_tz not in UTC_ZONES:
        raise cfg.error("source_tz", f'is {cfg.source_tz}, but table "{table.name}" stores {column} as {what}, '
                                     "which are UTC: set source_tz = UTC for this section")


def detect_sqlite(engine: Any, table: sa.Table, cfg: Any) -> sa.types.TypeEngine:
    """Text (either separator, any fraction) or unix-epoch numbers, told by the values themselves:
    SQLite's declared type (TEXT, NUMERIC, DATETIME or none) says little about what was stored."""
    where = column_where(cfg, table)
    samples = _samples(engine, table)
    kinds = {kind for kind, _value, _id in samples}
    if not samples:  # nothing to look at yet: what the declared type suggests
        affinity = str(table.c.date_time.type).upper()
        numeric = any(word in affinity for word in ("INT", "REAL", "FLOA", "DOUB"))
        if numeric:
            need_utc(cfg, table, "unix-epoch seconds")
        return EpochTime(where) if numeric else TextTime(" ", where)
    bad = [(v, i) for kind, v, i in samples if kind not in ("text", "integer", "real")
           or (kind == "text" and not TEXT_TIME.match(v))]
    if bad:
        value, row = bad[0]
        raise cfg.error("source", f'table "{table.name}" column date_time holds {value!r} (id {row}), which is '
                                  "not a time: use text 'YYYY-MM-DD HH:MM:SS[.ffffff]' (or 'T' for ' ') "
                                  "or unix-epoch seconds")
    if "text" in kinds and kinds - {"text"}:
        text = next((v, i) for k, v, i in samples if k == "text")
        number = next((v, i) for k, v, i in samples if k != "text")
        raise cfg.error("source", f'table "{table.name}" column date_time mixes text ({text[0]!r}, id {text[1]}) '
                                  f"and numbers ({number[0]!r}, id {number[1]}): one form per column")
    if "text" not in kinds:
        need_utc(cfg, table, "unix-epoch seconds")
        return EpochTime(where)
    seps = {v[10] for _k, v, _i in samples}
    if len(seps) > 1:
        raise cfg.error("source", f'table "{table.name}" column date_time mixes the separators " " and "T": '
                                  "they do not sort as time; one separator per column")
    return TextTime(seps.pop(), where)


def require_space_text(typ: sa.types.TypeEngine | None, cfg: Any, table: sa.Table, mode: str,
                       column: str = "date_time") -> None:
    """The bridge and the decimator compare SQLite times as text spelled `YYYY-MM-DD HH:MM:SS[.f]`
    (their keyset and slice statements bind such text): a `T` or epoch column would be read out of
    order or not at all, so it is refused in one line rather than bridged or thinned wrongly."""
    if isinstance(typ, EpochTime):
        form = "unix-epoch seconds"
    elif isinstance(typ, TextTime) and typ.sep != " ":
        form = text_form(typ.sep)
    else:
        return
    raise cfg.error("source", f'table "{table.name}" column {column} holds {form}: {mode} reads SQLite times '
                              f"as {text_form(' ')} only (the scraper and averager read every form)")


def sqlite_form(engine: Any, table: sa.Table, column: str) -> sa.types.TypeEngine | None:
    """The form of a SQLite time column from a few of its values (None: empty, or space-separated
    text): for modes that need no exact comparison type, only to refuse what they cannot read."""
    kinds = {(kind, value[10] if kind == "text" and len(value) > 10 else None)
             for kind, value, _id in _samples(engine, table, column)}
    if any(kind in ("integer", "real") for kind, _sep in kinds):
        return EpochTime(column)
    if ("text", "T") in kinds:
        return TextTime("T", column)
    return None


def _samples(engine: Any, table: sa.Table, column: str = "date_time") -> list[tuple[str, Any, Any]]:
    """(typeof, value, id) of a few rows: the first and last by id, the earliest and latest value.
    Index lookups only, so a table of millions costs what one of ten does."""
    dt, id_ = sa.type_coerce(table.c[column], sa.types.NullType), table.c.id
    cols = (sa.func.typeof(dt), dt, id_)
    parts = [sa.select(*cols).where(dt.is_not(None)).order_by(*order).limit(n)
             for order, n in (((id_,), _SAMPLE // 2), ((id_.desc(),), _SAMPLE // 2),
                              ((dt,), 1), ((dt.desc(),), 1))]
    stmt = sa.union_all(*[sa.select(*p.subquery().c) for p in parts])
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(stmt)]
