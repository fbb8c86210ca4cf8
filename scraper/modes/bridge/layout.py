"""What a section's bridged file holds: one series table per source, named after it.

The layout is derived, never stored: from the regime's `bridge_columns` when it declares them (a
regime that reshapes entries, e.g. one row per PMT channel), else from the source table's own value
columns as reflected. `scr.py migrate` compares it with the file (migrate.py), so a regime or source
that grew a column or a source is noticed before a single row is written.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Callable, Iterable

import sqlalchemy as sa

from scraper.api import Regime, Source
from scraper.core.timezones import UnixClock
from scraper.sources.sql.reader import SourceReader
from scraper.targets.timeseries import sqlite_type

KEY_COLUMNS = ("id", "date_time")


def series_type(typ: sa.types.TypeEngine) -> sa.types.TypeEngine:
    """The SQLite column type for a source (or declared) column type: numbers stay numbers."""
    t = typ() if isinstance(typ, type) else typ
    if isinstance(t, (sa.Integer, sa.Boolean)):
        return sa.Integer()
    if isinstance(t, (sa.Float, sa.Numeric)):
        return sa.Float()
    return sa.Text()


@dataclass
class Series:
    """One source and its table in the bridged file."""

    source: Source
    table: str
    columns: dict[str, sa.types.TypeEngine]
    source_columns: list[str] = field(default_factory=list)  # the reader's result columns, in order
    reshape: Callable[[Source, dict], Iterable[dict]] | None = None  # the regime's bridge_rows, if its own

    def declared(self) -> dict[str, str]:
        """{column: SQLite declared type} of the table, `time` included, as PRAGMA table_info shows it."""
        out = {"time": sqlite_type(sa.Integer)}
        out.update({name: sqlite_type(typ) for name, typ in self.columns.items()})
        return out

    def converter(self, tzname: str) -> Callable[[list[tuple]], tuple[list[tuple], int]]:
        """rows of the source query -> rows of the table, and how many entries they came from.

        The default layout is a tuple per entry built by C-level itemgetter (the backfill hot path);
        a reshaping regime gets each entry as a dict and returns its rows."""
        clock = UnixClock(tzname)
        unix = clock.unix
        at_dt = self.source_columns.index("date_time")
        names = list(self.columns)
        if self.reshape is None:
            pick = operator.itemgetter(*[self.source_columns.index(c) for c in names])
            if len(names) == 1:
                def convert(rows: list[tuple]) -> tuple[list[tuple], int]:
                    return [(unix(r[at_dt]), pick(r)) for r in rows], len(rows)
            else:
                def convert(rows: list[tuple]) -> tuple[list[tuple], int]:
                    return [(unix(r[at_dt]), *pick(r)) for r in rows], len(rows)
            return convert
        reshape, source, keys = self.reshape, self.source, self.source_columns

        def convert_reshaped(rows: list[tuple]) -> tuple[list[tuple], int]:
            out: list[tuple] = []
            for r in rows:
                entry = dict(zip(keys, r))
                t = unix(r[at_dt])
                for row in reshape(source, entry):
                    out.append((t, *(row.get(c) for c in names)))
            return out, len(rows)
        return convert_reshaped


def _own_bridge_rows(regime: type[Regime]) -> Callable | None:
    if getattr(regime.bridge_rows, "__func__", None) is Regime.bridge_rows.__func__:
        return None
    return regime.bridge_rows


def series_of(regime: type[Regime], source: Source, reader: SourceReader) -> Series:
    """The table of one source: the regime's declared columns, else the source's value columns."""
    columns = [c for c in reader.query.selected_columns]
    names = [c.name for c in columns]
    if regime.bridge_columns is not None:
        values = {name: series_type(typ) for name, typ in regime.bridge_columns.items()}
    else:
        values = {c.name: series_type(c.type) for c in columns if c.name not in KEY_COLUMNS}
    return Series(source, source.table, values, names, _own_bridge_rows(regime))


def layout(regime: type[Regime], readers: list[SourceReader]) -> list[Series]:
    return [series_of(regime, src, reader) for src, reader in zip(regime.sources, readers)]


def describe(series: Series) -> str:
    return ", ".join(f"{name} {typ}" for name, typ in series.declared().items())


