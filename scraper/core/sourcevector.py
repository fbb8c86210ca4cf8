"""Source instances and the SourceVector state machine of the sampling rules (docs/concepts.md) —
pure logic, no database."""
from __future__ import annotations

import keyword
from collections import deque
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

from scraper.core.source import Source

PROCEED_STATES = ("changed", "overage")


class Instance(dict):
    """One source entry (a row, or a joined row); columns as items (`inst["Temp_PT1"]`) or attributes
    (`inst.Temp_PT1`; a column named like a dict method, e.g. `items`, needs item access).

    A dict subclass because item access is the per-sample hot path of catch-up (bench/): C-speed lookups,
    and dict's own constructor (`Instance(zip(names, row))`): no Python __init__ per entry read.
    `aggd` (the aggregates, docs/aggregation.md) is None until the engine sets it.
    """

    __slots__ = ("aggd",)

    def __getattr__(self, name: str) -> Any:  # only called when the slot (aggd) or a method is not found
        if name == "aggd":
            return None
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    __hash__ = object.__hash__  # an entry read once is one object (sets/dicts of instances keep working)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    @property
    def t(self) -> datetime:
        return self["date_time"]

    @property
    def key(self) -> tuple[datetime, int]:
        """Total order of source entries: (date_time, id)."""
        return self["date_time"], self["id"]

    def __repr__(self) -> str:
        return f"Instance(id={self.get('id')}, date_time={self.get('date_time')})"


def entry_maker(names: Sequence[str], converted: Sequence[int] = ()) -> Callable[..., Instance]:
    """A function making the Instance of one row: `make(row, *values)`, the row as the driver gave it
    and, as further arguments, the values of the `converted` columns (by index) that replace the row's
    own — `map(make, rows, *columns)` over a batch whose time column was converted at once. Its body
    calls Instance with the column names as keyword arguments, generated once per statement as
    namedtuple generates its class: no transposing of the batch, and the cheapest way found to fill a
    dict subclass (catch-up's hot path, bench/; `Instance(zip(names, row))` costs ~30 % more, a dict
    display copied into an Instance ~5 %). Where a name cannot be a keyword argument as it is spelled
    (not an identifier, a Python keyword, or not ASCII: Python normalizes such identifiers, NFKC), the
    display is used. Either way the keys keep the columns' order, and a name given twice its last value."""
    passed = {k: f"_{j}" for j, k in enumerate(converted)}
    last = {name: k for k, name in enumerate(names)}  # a name given twice: its last column, as a display
    if all(name.isascii() and name.isidentifier() and not keyword.iskeyword(name) for name in last):
        args = ", ".join(f"{name}={passed.get(k, f'row[{k}]')}" for name, k in last.items())
    else:
        args = "{" + ", ".join(f"{name!r}: {passed.get(k, f'row[{k}]')}" for name, k in last.items()) + "}"
    namespace: dict[str, Any] = {"Instance": Instance}
    exec(f"def make(row, {', '.join(passed.values())}):\n    return Instance({args})", namespace)  # noqa: S102 - identifiers and repr'd names only
    return namespace["make"]


def same_values(a: Instance, b: Instance) -> bool:
    """Twins that differ only in id lead the sampling rules to the same decisions."""
    return {**a, "id": None} == {**b, "id": None}


class SourceVector:
    """At most two instances: sv[0] (last propagated or first read) and sv[-1] (latest), plus the cursor."""

    def __init__(self, source: Source, tcursor: datetime, first: Instance | None = None):
        self.source = source
        self.tcursor = tcursor
        self._items: list[Instance] = [first] if first is not None else []
        self.nsample = 0
        self.run_start = 0  # nsample when sv[0] was taken: entries sampled since = nsample - run_start
        self.state = "empty"

    def __getitem__(self, index: int) -> Instance:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return len(self._items) == 2

    @property
    def last_key(self) -> tuple[datetime, int] | None:
        """Every entry at or before this key has been collected: the next read starts beyond it."""
        return self._items[-1].key if self._items else None

    @property
    def age(self) -> timedelta:
        return self._items[-1].t - self._items[0].t

    def sample(self, inst: Instance, changed: Callable[["SourceVector"], bool], maxage: timedelta) -> str:
        """Take one newly read entry and decide: notfull, changed, overage or unchanged (rules 2-3 of a sample)."""
        self.nsample += 1
        items = self._items
        if not items:
            self._items = [inst]
            self.run_start = self.nsample
            self.state = "notfull"
        else:
            first = items[0]
            self._items = [first, inst]
            if changed(self):
                self.state = "changed"
            elif inst["date_time"] - first["date_time"] > maxage:
                self.state = "overage"
            else:
                self.state = "unchanged"
        return self.state

    def sample_stretch(self, entries: "deque[Instance]", changed: Callable[["SourceVector"], bool],
                       maxage: timedelta, emit: Callable[[str], None] | None = None) -> int:
        """Sample entries from the left of `entries` (the next ones rule 1 of a sample selects, in order) until one
        proceeds or none is left; returns how many. The same decisions as sample() one by one, as one
        loop: reading a stretch of unchanged entries is catch-up's per-entry hot path, so an entry costs
        the decision and nothing else, the count and the state kept once for the stretch. With `emit`,
        which gets each sample's log line, the entries go through sample() one by one instead."""
        if emit is not None:
            n = 0
            while entries:
                self.sample(entries.popleft(), changed, maxage)
                n += 1
                emit(self.line())
                if self.state != "unchanged":
                    break
            return n
        first = self._items[0]
        limit = first["date_time"] + maxage
        popleft, state, waiting = entries.popleft, self.state, len(entries)
        items = self._items = [first, self._items[-1]]  # sv[-1] replaced in place: one list for the stretch
        while entries:
            items[1] = inst = popleft()
            if changed(self):
                state = "changed"
                break
            if inst["date_time"] > limit:
                state = "overage"
                break
        else:
            if waiting:
                state = "unchanged"
        n = waiting - len(entries)
        self.nsample += n
        self.state = state
        return n

    @property
    def proceed(self) -> bool:
        return self.state in PROCEED_STATES

    def advance(self, interval: timedelta) -> None:
        """After a written propagation: sv[0] := sv[-1], tcursor := sv[-1].t + interval (rule 4: PROCEED)."""
        latest = self._items[-1]
        self._items = [latest]
        self.tcursor = latest.t + interval
        self.run_start = self.nsample

    def rewind(self) -> int:
        """Forget every entry sampled after sv[0] (nothing of them was written); returns how many, so
        that they can be sampled again."""
        n = self.nsample - self.run_start
        self._items = self._items[:1]
        self.nsample = self.run_start
        self.state = "rewound"
        return n

    def line(self) -> str:
        """The per-sample log line, e.g.
        `SV 8   (6, 13)  2011-02-01 00:01:00 full  overage  (00:01:00 00:02:10)  ==> PROCEED`."""
        ids = "(" + ", ".join(str(i.id) for i in self._items) + ("," if len(self._items) == 1 else "") + ")"
        times = " ".join(f"{i.t:%H:%M:%S}" for i in self._items) + (" ++" if len(self._items) == 1 else "")
        fill = "full" if self.full else "partial"
        action = "PROCEED" if self.proceed else ""
        return (f"SV {self.nsample:<3} {ids}  {self.tcursor:%Y-%m-%d %H:%M:%S} {fill}  {self.state}  "
                f"({times})  ==> {action}").rstrip()
