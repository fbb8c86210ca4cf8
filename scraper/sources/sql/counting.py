"""The skip search's counting query: how many entries the database judged in each span, and whether a
span searched in id order holds entries with ids outside its ends (sources/sql/skipping.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:  # pragma: no cover
    from scraper.sources.sql.reader import SourceReader


def counting_statement(reader: "SourceReader", spans: int) -> sa.CompoundSelect:
    """One count per span (`_lo{k}`, `_t{k}`, ... parameters), UNION ALL: an OR of the spans' ranges
    would cost MariaDB all of them per row. Each row: k, entries in span k, entries out of id order."""
    aliases = [t.alias(f"_n{k}") for k, t in enumerate(reader.tables)]  # the source as batches see it
    counted_from, _ = reader.joined(aliases)
    dt, id_ = aliases[0].c.date_time, aliases[0].c.id
    counts = []
    for k in range(spans):
        lo, t, ut = (sa.bindparam(f"_{n}{k}", type_=dt.type) for n in ("lo", "t", "ut"))
        i, ui, wm = (sa.bindparam(f"_{n}{k}", type_=id_.type) for n in ("i", "ui", "wm"))
        # BIGINT: the "any id" bounds (spans._ANY_ID) overflow PostgreSQL's INTEGER
        di, du = (sa.bindparam(f"_{n}{k}", type_=sa.BigInteger) for n in ("di", "du"))
        disorder = reader.dialect.count_where(sa.or_(id_ <= di, id_ >= du))
        # (date_time, id) beyond (t, i) and before (ut, ui), written so that an entry inside the
        # range costs a comparison or two: an index range from lo to ut; beyond (t, i) is implied
        # when lo > t (_free, known in Python), and the ends' terms test the id first, which
        # fails for an entry inside an id-order span before any time is compared (SQLite:
        # half the cost of the OR form, and a fifth less again than the time first, bench/)
        free = sa.bindparam(f"_free{k}", type_=sa.Boolean)
        count = sa.select(sa.literal_column(str(k)).label("k"), sa.func.count().label("n"),
                          disorder.label("d")).select_from(counted_from).where(
            dt >= lo, dt <= ut, id_ <= wm, sa.or_(free, sa.not_(sa.and_(id_ <= i, dt == t))),
            sa.not_(sa.and_(id_ >= ui, dt == ut)))
        counts.append(reader.dialect.walk_time_index(count, aliases[0]))  # index-only ranges
    return sa.union_all(*counts)
