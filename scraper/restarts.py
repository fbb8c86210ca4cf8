"""Where the regime test kit stops a run, and what it says when the restarted target differs.

A restarted run resumes at its context's last validity record: a run stopped before its next
propagation leaves the target as it was, and the next run starts from the same place. Stopping after a
random 1 to 40 samples therefore never advanced a regime whose propagations are further apart (an
interval of 30 s with maxage 1h: 120 samples), and the check spun for thousands of runs. The stops are
planned from the uninterrupted run's own records instead: a few of them, drawn at random across the
whole data, each a run long enough to reach its record and a random part of the gap after it, so
every run advances the target and the number of runs is fixed in advance.
"""
from __future__ import annotations

import random
from bisect import bisect_right
from datetime import datetime, timezone
from itertools import zip_longest
from typing import Any, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

HEAD = ("TIMESTART", "TIMEEND", "SITEMASK", "SUBSITE", "TASK", "AGGREGATENO")
END, CONTEXT = 1, slice(2, 4)  # a record's TIMEEND and its context (SITEMASK, SUBSITE) in target() tuples


def _utc(value: Any, zone: ZoneInfo) -> datetime:
    t = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return t.replace(tzinfo=zone).astimezone(timezone.utc).replace(tzinfo=None)


class RestartPlan:
    """Sample budgets (`maxiter`) for the restarted runs, from the whole run's records and the rows."""

    def __init__(self, whole: Sequence[tuple], rows: Mapping[str, Iterable[Mapping[str, Any]]],
                 source_tz: str = "UTC"):
        zone = ZoneInfo(source_tz)
        self.times = [sorted(_utc(r["date_time"], zone) for r in table_rows) for table_rows in rows.values()]
        self.ends = sorted(r[END] for r in whole)
        self.by_context: dict[tuple, list[datetime]] = {}
        for r in whole:
            self.by_context.setdefault(tuple(r[CONTEXT]), []).append(r[END])
        for ends in self.by_context.values():
            ends.sort()

    def stops(self, rng: random.Random, count: int) -> list[datetime]:
        """`count` TIMEENDs of the whole run drawn across all of it (never its last: that is the end)."""
        inner = self.ends[:-1]
        return sorted(rng.sample(inner, min(count, len(inner))))

    def _entries(self, after: datetime | None, upto: datetime) -> int:
        """Entries of the busiest table in (after, upto]: a round samples each table at least once."""
        return max((bisect_right(t, upto) - (bisect_right(t, after) if after else 0) for t in self.times),
                   default=0)

    def budget(self, stop: datetime, done: Sequence[tuple], rng: random.Random) -> int:
        """Samples from where a restarted run resumes (`done`: what the target holds) to past `stop`,
        and a random part of the gap after it: the run writes at least one record, and mostly stops
        between two propagations. 0 when the target is already past `stop`."""
        resumed = {}
        for r in done:
            key = tuple(r[CONTEXT])
            resumed[key] = max(resumed.get(key, r[END]), r[END])
        # the context furthest behind decides: it resumes earliest and must reach its next record
        behind = min(self.by_context, key=lambda c: (resumed.get(c) is not None, resumed.get(c) or stop))
        start = resumed.get(behind)
        if start is not None and start >= stop:
            return 0
        following = [t for t in self.by_context[behind] if start is None or t > start]
        reach = max(stop, following[0]) if following else stop
        later = self.ends[bisect_right(self.ends, reach):]
        gap = self._entries(reach, later[0]) if later else 0
        return self._entries(start, reach) + rng.randint(0, gap)


def first_difference(expected: Sequence[tuple], got: Sequence[tuple], expected_name: str,
                     got_name: str) -> str | None:
    """The first record where two targets differ, both sides shown; None when they are equal."""
    for n, (a, b) in enumerate(zip_longest(expected, got), start=1):
        if a != b:
            width = max(len(expected_name), len(got_name)) + 1
            return (f"record {n} differs ({len(expected)} records in the {expected_name}, {len(got)} in the "
                    f"{got_name}):\n  {expected_name + ':':<{width}} {describe(a)}\n"
                    f"  {got_name + ':':<{width}} {describe(b)}")
    return None


def describe(record: tuple | None) -> str:
    if record is None:
        return "(no such record)"
    head = ", ".join(f"{k}={v}" for k, v in zip(HEAD, record))
    return f"{head}, payload rows {list(record[len(HEAD)])}"
