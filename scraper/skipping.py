"""Letting the database skip unchanged entries: one statement per propagation instead of every entry in Python.

§4 sends every entry through `changed(sv)`. Between two propagations sv[0] stays put, so the next
PROCEED is simply the first entry e beyond sv[-1] (date_time >= tcursor) for which changed(sv[0], e)
holds or e.t - sv[0].t > maxage. When a regime also states its test in SQL (`Scraper.changed_sql`),
the database finds that entry itself, and catching up over a million entries costs one statement per
propagation rather than a million rows through Python (bench/: the >= 100x bar of issue 3).

Exactness does not rest on the SQL form being perfect:

* it may over-select: every entry the database returns goes through the Python `changed()` and maxage
  rule as before; one that Python calls unchanged is sampled as such and the search goes on from it;
* it must not under-select. Each returned entry carries whether changed_sql() holds for it; when the
  search finds no candidate, the same statement returns the source's latest entry instead, judged by
  Python too. Should Python call an entry changed where the SQL form did not (or overage where the
  database saw no candidate), the SQL form is wrong: the vector is rewound to sv[0] — nothing has been
  written for the skipped stretch — and every entry is read in Python for the rest of the run, with an
  ERROR line. (A wrong SQL form that no returned entry exposes stays unseen: test a new changed_sql()
  against use_changed_sql = False, as tests/integration/test_skipping.py does for the example regimes);
* the statement also counts the entries it skipped, in the same snapshot, so `entries_read`, the
  summary and the metrics are what sample-by-sample running reports.

It is used only where skipping changes nothing observable: `offset = 0`, `maxiter = 0`, the per-sample
INFO log line off, `use_changed_sql = True`, and while stretches between propagations are long enough
(MIN_STRETCH entries) for a query per propagation to beat reading batches of entries into Python.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

import sqlalchemy as sa

from .db import PreparedQuery
from .sourcevector import Instance, SourceVector

if TYPE_CHECKING:  # pragma: no cover
    from .reader import SourceReader

log = logging.getLogger("scraper.skipping")

# Entries per propagation below which reading batches into Python is cheaper than a query per
# propagation (a skip query costs ~50 us on SQLite, ~300 us on MariaDB; Python ~5-25 us per entry).
MIN_STRETCH = 16
_SMOOTHING = 0.05  # weight of the newest stretch in the running estimate (~ the mean of the last 20)
# Relative slack of `moved()`: MariaDB computes with a FLOAT column's exact single-precision value, while
# Python receives it rounded to ~7 digits; a relative 1e-6 covers that difference many times over.
SLACK = 1e-6


class UnderSelected(Exception):
    """changed_sql() let through no candidate, yet Python's changed() accepts an entry it skipped."""


class First(Mapping):
    """sv[0] as seen by `changed_sql`: each column a bound SQL parameter, filled in per query."""

    def __init__(self, columns: sa.ColumnCollection):
        self._params = {c.name: sa.bindparam(f"_sv0_{k}", type_=c.type) for k, c in enumerate(columns)}

    def __getitem__(self, name: str) -> sa.BindParameter:
        return self._params[name]

    def __getattr__(self, name: str) -> sa.BindParameter:
        try:
            return self._params[name]
        except KeyError:
            raise AttributeError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def values(self, inst: Instance) -> dict[str, Any]:  # type: ignore[override]
        return {p.key: inst[name] for name, p in self._params.items()}


def moved(c: sa.ColumnCollection, first: Mapping[str, Any], names: list[str] | tuple[str, ...],
          threshold: float) -> sa.ColumnElement[bool]:
    """`changed_sql` of the commonest `changed()`: any |sv[-1][n] - sv[0][n]| > threshold for n in names.

    Errs towards candidates, as `changed_sql` must: a NULL on either side is a candidate (Python then
    decides, as it would have), and the threshold is lowered by a relative SLACK so that single-precision
    columns (MariaDB FLOAT) can never be judged unchanged in SQL but changed in Python."""
    tests: list[sa.ColumnElement[bool]] = []
    for n in names:
        col, old = c[n], first[n]
        slack = (sa.func.abs(old) + abs(threshold) + 1) * SLACK
        tests += [col.is_(None), old.is_(None), sa.func.abs(col - old) > threshold - slack]
    return sa.or_(*tests)


class Skipper:
    """The skip search of one source: a prebuilt statement (bound parameters only, so SQLAlchemy
    compiles it once) and the running estimate that decides when it is worth using."""

    def __init__(self, reader: "SourceReader", first: First, condition: sa.ColumnElement[bool]):
        self.reader, self.first, self._changed_sql = reader, first, condition
        self.stretch = float("inf")  # entries per propagation, estimated; optimistic until measured
        self.skipped_since_first = 0  # of reader.skipped, the entries after sv[0] (undone by a rewind)
        self._statements: dict[bool, PreparedQuery] = {}

    @classmethod
    def build(cls, reader: "SourceReader", changed_sql: Callable[..., Any]) -> "Skipper | None":
        """None when the regime has no SQL form of changed()."""
        first = First(reader.query.selected_columns)
        condition = changed_sql(first, reader.query.selected_columns)
        return None if condition is None else cls(reader, first, condition)

    # --- the statement ----------------------------------------------------------------------------
    def _after(self, dt: sa.ColumnElement, id_: sa.ColumnElement) -> sa.ColumnElement[bool]:
        """§4.1 for the entries after sv[-1]: date_time >= lo (= max(tcursor, sv[-1].t), an index range)
        and (date_time, id) beyond sv[-1]."""
        t = sa.bindparam("_t", type_=self.reader.dt.type)
        return sa.and_(dt >= sa.bindparam("_lo", type_=self.reader.dt.type),
                       sa.or_(dt > t, sa.and_(dt == t, id_ > sa.bindparam("_i", type_=self.reader.id.type))))

    def statement(self, with_watermark: bool) -> PreparedQuery:
        """First candidate beyond sv[-1] (changed_sql or over maxage), else the latest entry; with the
        number of entries up to it, all in one statement and hence one snapshot."""
        stmt = self._statements.get(with_watermark)
        if stmt is not None:
            return stmt
        r = self.reader
        dt, id_, q = r.dt, r.id, r.query
        after = self._after(dt, id_)
        overage = dt > sa.bindparam("_limit", type_=dt.type)
        flag = sa.case((self._changed_sql, 1), else_=0).label("_sqlchanged")  # why the candidate qualified
        cand = (q.add_columns(flag).where(after, sa.or_(self._changed_sql, overage))
                .order_by(dt, id_).limit(1).subquery("cand"))
        tail = (q.add_columns(sa.literal_column("0").label("_sqlchanged")).where(after)
                .order_by(dt.desc(), id_.desc()).limit(1).subquery("tail"))
        both = sa.union_all(sa.select(sa.literal_column("0").label("_kind"), *cand.c),
                            sa.select(sa.literal_column("1"), *tail.c)).subquery("both")
        pick = sa.select(both).order_by(both.c._kind).limit(1).subquery("pick")
        aliases = [t.alias(f"_n{k}") for k, t in enumerate(r.tables)]
        counted, _ = r.joined(aliases)
        a = aliases[0].c
        upto = sa.or_(a.date_time < pick.c.date_time, sa.and_(a.date_time == pick.c.date_time, a.id <= pick.c.id))
        n = (sa.select(sa.func.count()).select_from(counted)
             .where(self._after(a.date_time, a.id), upto).scalar_subquery())
        batch = sa.select(pick, n.label("_n")).subquery("batch")
        watermark = sa.bindparam("_wm", type_=id_.type) if with_watermark else None
        stmt = self._statements[with_watermark] = PreparedQuery(r.engine, r.checked_statement(batch, after, watermark))
        return stmt

    def _run(self, stmt: PreparedQuery, params: dict[str, Any]) -> list[tuple]:
        self.reader.queries += 1
        return stmt.execute(params)

    def close(self) -> None:
        for stmt in self._statements.values():
            stmt.close()

    # --- sampling ---------------------------------------------------------------------------------
    def worthwhile(self, sv: SourceVector) -> bool:
        """Skip while propagations are far apart: judged by the recent stretches and the current one."""
        return self.stretch >= MIN_STRETCH or sv.nsample - sv.run_start >= MIN_STRETCH

    def proceeded(self, sv: SourceVector) -> None:
        """A PROCEED of this source: fold its stretch (entries since the previous one) into the estimate;
        if that says skip again, drop what a batch query read ahead rather than judge it all in Python."""
        stretch = sv.nsample - sv.run_start
        self.skipped_since_first = 0
        self.stretch = stretch if self.stretch == float("inf") else (
            (1 - _SMOOTHING) * self.stretch + _SMOOTHING * stretch)
        if self.stretch >= MIN_STRETCH and self.reader.buffered:
            self.reader.reset()

    def sample(self, sv: SourceVector, changed: Callable[[SourceVector], bool], maxage: timedelta) -> int:
        """Sample the next entry worth Python's attention into `sv`; returns how many entries that
        covered (skipped ones included), 0 when the source has nothing beyond sv[-1]."""
        r = self.reader
        t, i = sv.last_key
        lo = max(sv.tcursor, t)
        if r.floor is not None and lo < r.floor:
            lo = r.floor
        params = {"_lo": lo, "_t": t, "_i": i, "_limit": sv[0].t + maxage, **self.first.values(sv[0])}
        if r._watermark is not None:
            params["_wm"] = r._watermark
        stmt = self.statement(r._watermark is not None)
        names, rows = r.unchecked(stmt.keys, r.guard(self._run, stmt, params), lo)
        if not rows:
            return 0
        row = rows[0]
        kind, sql_changed, n = row[0], row[-2], int(row[-1])
        inst = Instance(zip(names[1:-2], row[1:-2]))
        r.entries_read += n
        sv.sample(inst, changed, maxage)
        sv.nsample += n - 1
        r.skipped += n - 1
        self.skipped_since_first += n - 1
        # changed_sql() must hold wherever changed() does; where it does not, entries before this one
        # may have been skipped wrongly too. (An overage the database did not see: the same, for time.)
        if (sv.state == "changed" and not sql_changed) or (kind == 1 and sv.state == "overage"):
            raise UnderSelected(f"entry id={inst['id']} ({_show(inst.t)}) is {sv.state} for Python but "
                                f"was {'the latest entry, no candidate' if kind == 1 else 'only over maxage'} "
                                "for the database")
        return n


def _show(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}"
