"""Counting what the skip search judged: how many entries the database judged in each span, and whether
a span searched in id order holds entries with ids outside its ends (sources/sql/skipping.py).

Two statements. The quick one counts each span as one plain index range (from `lo` to before the end's
time) plus two seeks at the ends' times, and, per entry of the range, one id test: is its id outside
what the span can hold without a second look (its ends' ids in id order, the rows the search saw)?
When no entry is, which is nearly always, its counts are the answer. Otherwise the exact statement,
which tests each entry against every bound, counts that chunk again. Per entry the quick one costs
half of the exact one (SQLite, bench/): counting had cost about as much as one scan of the entries.
A server plans each SELECT of a statement, three a span in the quick form: MariaDB counts exactly
(its catch-up was ~15 % slower the quick way, bench/), as does any dialect without `quick_count`.

Where the dialect says `count_in_search` (SQLite), the seen-rows search counts its own span instead:
`counted_search` adds the count as a subquery bounded by the candidate it finds, an index range that
SQLite walks in a few microseconds; no counting statement, and no parameters to build for one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import sqlalchemy as sa

from scraper.db import PreparedQuery
from scraper.db.timeforms import time_bounds
from scraper.sources.sql.spans import ANY_ID, Span

if TYPE_CHECKING:  # pragma: no cover
    from scraper.sources.sql.reader import SourceReader


class SpanCounter:
    """Counts up to `spans` spans a query; used on one thread at a time (its statements' connections).
    `quick`: whether to try the quick form first (default: the dialect's `quick_count`)."""

    def __init__(self, reader: "SourceReader", spans: int, quick: bool | None = None):
        self.reader, self.spans = reader, spans
        self.quick = reader.dialect.quick_count if quick is None else quick
        self._quick: PreparedQuery | None = None
        self._exact: PreparedQuery | None = None

    def count(self, chunk: list[Span]) -> tuple[int, list[Span], int]:
        """Entries judged in SQL within `chunk` (up to `spans` spans), the id-order spans holding entries
        with an id beyond their ends (suspects, for the skipper to judge), and the queries it took."""
        pad = [chunk[k] if k < len(chunk) else chunk[0].empty() for k in range(self.spans)]
        inside = sum(sp.inside for sp in chunk)
        if not self.quick:
            return (*self._count_exactly(chunk, pad, inside), 1)
        params = _params(pad, lambda sp, di, du: {"a": di + 1, "b": min(du, sp.wm + 1) - 1})
        if self._quick is None:
            self._quick = PreparedQuery(self.reader.engine, quick_statement(self.reader, self.spans))
        entries = odd = 0
        for _k, sign, n, outside in self.reader.guard(self._quick.execute, params):
            entries += sign * n
            odd += sign * int(outside or 0)  # MariaDB's SUM: a DECIMAL, NULL over no row
        if not odd:
            return entries - inside, [], 1
        return (*self._count_exactly(chunk, pad, inside), 2)

    def _count_exactly(self, chunk: list[Span], pad: list[Span], inside: int) -> tuple[int, list[Span]]:
        params = _params(pad, lambda sp, di, du: {"free": sp.lo > sp.after[0], "wm": sp.wm, "di": di, "du": du})
        if self._exact is None:
            self._exact = PreparedQuery(self.reader.engine, counting_statement(self.reader, self.spans))
        rows = self.reader.guard(self._exact.execute, params)
        suspects = [chunk[k] for k, _n, disorder in rows if disorder and k < len(chunk)]
        return sum(row[1] for row in rows) - inside, suspects

    def close(self) -> None:
        for stmt in (self._quick, self._exact):
            if stmt is not None:
                stmt.close()


def _params(pad: list[Span], more: Callable[[Span, int, int], dict[str, Any]]) -> dict[str, Any]:
    """Each span's ends as the parameters of span n (`_lo{n}`, ...), and what one statement adds
    (`more(span, low id bound, high id bound)`)."""
    params: dict[str, Any] = {}
    for n, sp in enumerate(pad):
        di, du = sp.id_bounds()
        ends = {"lo": sp.lo, "t": sp.after[0], "i": sp.after[1], "ut": sp.upto[0], "ui": sp.upto[1]}
        params.update({f"_{name}{n}": value for name, value in {**ends, **more(sp, di, du)}.items()})
    return params


# the search's count column: entries * _SPLIT + those with an odd id (a scalar subquery has one column)
_SPLIT = 2 ** 32


def counted_search(reader: "SourceReader", search: sa.Select, by_id: bool) -> sa.Select:
    """The seen-rows skip search (parameters `_lo`, `_t`, `_i`, `_wm`) with one more column, `_counted`:
    its span counted the quick way (quick_statement, bounded by the candidate it finds) as entries *
    _SPLIT + entries with an odd id. With none odd the count is exact; otherwise the span is counted
    afterwards like any other. The candidate's time bounds and highest even id are selected with it,
    so that each entry counted costs one id test."""
    low, high, strict = time_bounds(reader.dt)
    wm = sa.bindparam("_wm", type_=reader.id.type)
    top = sa.func.min(reader.id, wm + 1) - 1 if by_id else wm
    found = search.add_columns(low.label("_low"), high.label("_high"), top.label("_b")).subquery("_found")
    counted_from, main = _source(reader)
    dt, id_ = main.c.date_time, main.c.id
    fid = found.corresponding_column(reader.id)
    lo, t = (sa.bindparam(n, type_=dt.type) for n in ("_lo", "_t"))
    i = sa.bindparam("_i", type_=id_.type)
    odd = sa.not_(id_.between(i + 1 if by_id else sa.literal(-ANY_ID), found.c._b))
    at_found = (dt >= found.c._low, dt <= found.c._high if strict else dt < found.c._high)
    before = dt < found.c._low
    total = None
    for sign, where in _quick_parts(dt, id_, lo, t, i, before, at_found, fid):
        part = sa.select(sa.func.count() * _SPLIT + reader.dialect.count_where(odd)).select_from(counted_from).where(*where)
        part = reader.dialect.walk_time_index(part, main).scalar_subquery()
        total = part if total is None else (total + part if sign > 0 else total - part)
    return sa.select(*list(found.c)[:-3], total.label("_counted"))


def search_count(counted: int) -> int | None:
    """The entries a counted_search judged, from its `_counted` column; None where some had an odd
    id: that span is counted afterwards, exactly."""
    entries, odd = divmod(counted, _SPLIT)
    return None if odd else entries


def _quick_parts(dt: sa.ColumnElement, id_: sa.ColumnElement, lo: Any, t: Any, i: Any,
                 before_end: sa.ColumnElement[bool], at_end: tuple[sa.ColumnElement[bool], ...],
                 end_id: Any) -> list[tuple[int, tuple[sa.ColumnElement[bool], ...]]]:
    """The quick form's three parts of the span beyond (t, i) from lo on and before the end entry, as
    (sign, conditions): the index range from lo to before the end's time; less its entries at t up to
    id i (in the range when lo <= t); plus the entries at the end's time (`at_end`) before its id."""
    return [(1, (dt >= lo, before_end)),
            (-1, (dt == t, dt >= lo, before_end, id_ <= i)),
            (1, (*at_end, dt >= lo, id_ < end_id, sa.not_(sa.and_(id_ <= i, dt == t))))]


def _source(reader: "SourceReader") -> tuple[sa.FromClause, sa.Table]:
    aliases = [t.alias(f"_n{k}") for k, t in enumerate(reader.tables)]  # the source as batches see it
    counted_from, _ = reader.joined(aliases)
    return counted_from, aliases[0]


def quick_statement(reader: "SourceReader", spans: int) -> sa.CompoundSelect:
    """Per span k, three rows (k, sign, entries, entries with an id outside [_a, _b]): the index range
    [lo, ut), less its entries at t up to id i, plus the entries at ut before id ui (beyond i if t = ut).
    The span's entries are range - low + high when no entry has an odd id; [_a, _b] excludes the rows
    the search did not see (above its watermark) and, in id order, the ids outside its ends. UNION
    ALL: an OR of ranges would cost MariaDB all of them per row."""
    counted_from, main = _source(reader)
    dt, id_ = main.c.date_time, main.c.id
    parts = []
    for k in range(spans):
        lo, t, ut = (sa.bindparam(f"_{n}{k}", type_=dt.type) for n in ("lo", "t", "ut"))
        i, ui = (sa.bindparam(f"_{n}{k}", type_=id_.type) for n in ("i", "ui"))
        # BIGINT: the "any id" bounds (spans.ANY_ID) overflow PostgreSQL's INTEGER
        a, b = (sa.bindparam(f"_{n}{k}", type_=sa.BigInteger) for n in ("a", "b"))
        odd = reader.dialect.count_where(sa.not_(id_.between(a, b)))
        for sign, where in _quick_parts(dt, id_, lo, t, i, dt < ut, (dt == ut,), ui):
            count = sa.select(sa.literal_column(str(k)).label("k"), sa.literal_column(str(sign)).label("s"),
                              sa.func.count().label("n"), odd.label("d")).select_from(counted_from).where(*where)
            parts.append(reader.dialect.walk_time_index(count, main))  # index-only ranges
    return sa.union_all(*parts)


def counting_statement(reader: "SourceReader", spans: int) -> sa.CompoundSelect:
    """One count per span (`_lo{k}`, `_t{k}`, ... parameters), UNION ALL: an OR of the spans' ranges
    would cost MariaDB all of them per row. Each row: k, entries in span k, entries out of id order."""
    counted_from, main = _source(reader)
    dt, id_ = main.c.date_time, main.c.id
    counts = []
    for k in range(spans):
        lo, t, ut = (sa.bindparam(f"_{n}{k}", type_=dt.type) for n in ("lo", "t", "ut"))
        i, ui, wm = (sa.bindparam(f"_{n}{k}", type_=id_.type) for n in ("i", "ui", "wm"))
        di, du = (sa.bindparam(f"_{n}{k}", type_=sa.BigInteger) for n in ("di", "du"))
        disorder = reader.dialect.count_where(sa.or_(id_ <= di, id_ >= du))
        # (date_time, id) beyond (t, i) and before (ut, ui), written so that an entry inside the
        # range costs a comparison or two: an index range from lo to ut; beyond (t, i) is implied
        # when lo > t (_free, known in Python), and the ends' terms test the id first, which
        # fails for an entry inside an id-order span before any time is compared
        free = sa.bindparam(f"_free{k}", type_=sa.Boolean)
        count = sa.select(sa.literal_column(str(k)).label("k"), sa.func.count().label("n"),
                          disorder.label("d")).select_from(counted_from).where(
            dt >= lo, dt <= ut, id_ <= wm, sa.or_(free, sa.not_(sa.and_(id_ <= i, dt == t))),
            sa.not_(sa.and_(id_ >= ui, dt == ut)))
        counts.append(reader.dialect.walk_time_index(count, main))  # index-only ranges
    return sa.union_all(*counts)
