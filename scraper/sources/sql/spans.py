"""The skip search's records: sv[0] as SQL parameters (First), and the stretches the database judged
(Span), which the counting query counts and checks afterwards (skipping.py)."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from scraper.core.sourcevector import Instance

ANY_ID = 2 ** 62


class First(Mapping):
    """sv[0] as the rule's SQL form sees it: each column a bound SQL parameter, filled in per query."""

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


class Span:
    """The entries one skip query judged in SQL: beyond `after` (from `lo` on) and before `upto`, the
    entry it returned (which Python samples and counts like any other). One is made per propagation:
    a plain class with slots (a frozen dataclass's __init__ cost ~8 us on the loaded box, bench/);
    nothing changes a span once made.

    `wm`: the rows the search could see (id <= wm; the others are late: see Skipper.statement).
    `by_id`: searched in id order, exact unless an entry with an id outside (after, upto) is a candidate.
    `inside`: entries returned by the database (sampled in Python) inside a merged span.
    `first`: sv[0] during an id-order search.
    `counted`: the count its search made (counting.counted_search), else None: counted afterwards."""

    __slots__ = ("lo", "after", "upto", "wm", "by_id", "inside", "first", "counted")

    def __init__(self, lo: datetime, after: tuple[datetime, int], upto: tuple[datetime, int], wm: int,
                 by_id: bool = False, inside: int = 0, first: Instance | None = None, counted: int | None = None):
        self.lo, self.after, self.upto, self.wm = lo, after, upto, wm
        self.by_id, self.inside, self.first, self.counted = by_id, inside, first, counted

    def __repr__(self) -> str:
        return (f"Span(lo={self.lo}, after={self.after}, upto={self.upto}, wm={self.wm}, by_id={self.by_id}, "
                f"inside={self.inside})")

    def empty(self) -> "Span":
        """A span holding no entry (upto = after): pads a counting query."""
        return Span(self.lo, self.after, self.after, self.wm)

    def id_bounds(self) -> tuple[int, int]:
        """Ids outside (low, high) in this span break its id-order search (any id: a time-order span)."""
        return (self.after[1], self.upto[1]) if self.by_id else (-ANY_ID, ANY_ID)


def merged(spans: list[Span]) -> list[Span]:
    """Contiguous spans of one stretch that saw the same rows (wm): one range, less the entries returned
    inside. Not id-order spans: each is checked against its own ends."""
    out: list[Span] = []
    for sp in spans:
        if out and out[-1].wm == sp.wm and not (sp.by_id or out[-1].by_id or sp.counted is not None
                                                 or out[-1].counted is not None):
            head = out[-1]
            out[-1] = Span(head.lo, head.after, sp.upto, head.wm, inside=head.inside + 1)
        else:
            out.append(sp)
    return out


def show(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}"
