"""Declarative change rules: a regime says WHAT changes, the engine derives both tests from it.

    class AdTempScraper(Scraper):
        change = Moved(PT, by="threshold")                 # any |new - old| > self.threshold
    class PmtHvScraper(Scraper):
        change = Moved(CHANNELS, by="threshold") | Differs(POWER)

One rule yields the Python test (`rule.python(scraper)`, judged on every entry Python samples) and the
SQL condition (`rule.sql(...)`, with which the database skips the entries that cannot be changed), so
the two cannot disagree. What a hand-written SQL form got wrong before is the rule's business here:

* NULL is data: NULL against a value is changed, NULL against NULL is unchanged, in both forms (SQL's
  `a != b` is NULL, not true, when either side is: the SQL uses null-safe comparisons);
* single-precision columns: MariaDB and PostgreSQL compute with a FLOAT/REAL column's exact
  single-precision value while Python receives it rounded to ~7 digits. There `Moved` lowers the
  threshold by a relative slack (the dialect's `float_slack`), so SQL can only err towards a
  candidate, which Python then judges; SQLite's REAL is the double Python sees: only the rounding of
  the range `Moved` tests (RANGE_SLACK);
* long OR chains: SQLite parses `a OR b OR ...` one level deeper per term and refuses expressions
  deeper than 1000 (pmthv: 192 channels, two terms each, plus the power states): terms are grouped in
  parenthesised blocks.

A free-form `changed(sv)` (state kept between calls, anything a rule cannot say) stays possible: the
engine then judges every entry in Python, and no SQL form is used.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:  # pragma: no cover
    from scraper.core.sourcevector import Instance

Test = Callable[["Instance", "Instance"], bool]  # (sv[0], sv[-1]) -> changed?
Columns = Mapping[str, sa.ColumnElement]  # a source row in SQL: column name -> expression
BLOCK = 32  # terms per parenthesised OR block (SQLite's depth limit is 1000)
RANGE_SLACK = 1e-12  # relative: far above a double's rounding (2.2e-16), far below any threshold's meaning


class Rule:
    """Base of the change rules; combine with `|` (either changes) and `&` (both change)."""

    def columns(self) -> tuple[str, ...]:
        """The source columns the rule reads (checked against the source at start-up)."""
        raise NotImplementedError

    def sees_wrong_kinds(self) -> bool:
        """Whether the SQL form is already true wherever a value of the wrong kind makes the Python form
        true (db/kinds.py reads it as NULL); otherwise the skip search adds a term per column for it."""
        return False

    def python(self, scraper: Any) -> Test:
        """The test on (sv[0], sv[-1]) as a plain function: the per-entry hot path of catch-up."""
        raise NotImplementedError

    def sql(self, scraper: Any, old: Columns, new: Columns, slack: float = 0.0) -> sa.ColumnElement[bool]:
        """The same test on SQL expressions: true wherever `python` is true (exactly, or more often by
        the relative `slack` of single-precision columns), never less often."""
        raise NotImplementedError

    def __or__(self, other: "Rule") -> "Rule":
        return AnyOf(*_parts(self, AnyOf), *_parts(other, AnyOf))

    def __and__(self, other: "Rule") -> "Rule":
        return AllOf(*_parts(self, AllOf), *_parts(other, AllOf))


def _parts(rule: Rule, kind: type) -> tuple[Rule, ...]:
    if not isinstance(rule, Rule):
        raise TypeError(f"cannot combine a change rule with {rule!r}")
    return rule.rules if isinstance(rule, kind) else (rule,)


def _names(cols: str | Iterable[str]) -> tuple[str, ...]:
    names = (cols,) if isinstance(cols, str) else tuple(cols)
    if not names:
        raise ValueError("a change rule needs at least one column")
    return names


class Moved(Rule):
    """Changed when any column moved by more than `by`: |sv[-1][c] - sv[0][c]| > by, for c in cols.

    `by` names an attribute of the scraper (`"threshold"` = the config key `threshold`), read when the
    run starts, or is a number."""

    def __init__(self, cols: str | Iterable[str], by: str | float = "threshold"):
        self.cols, self.by = _names(cols), by

    def __repr__(self) -> str:
        return f"Moved({list(self.cols)!r}, by={self.by!r})"

    def sees_wrong_kinds(self) -> bool:
        return True  # outside every range / distinct from the value Python holds (see sql)

    def columns(self) -> tuple[str, ...]:
        return self.cols

    def limit(self, scraper: Any) -> float:
        value = getattr(scraper, self.by) if isinstance(self.by, str) else self.by
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{self!r}: {type(scraper).__name__}.{self.by} is {value!r}, not a number")
        return float(value)

    def python(self, scraper: Any) -> Test:
        cols, limit = self.cols, self.limit(scraper)

        def moved(old: "Instance", new: "Instance") -> bool:
            for c in cols:
                a, b = new[c], old[c]
                if a is None or b is None:
                    if a is not b:  # NULL against a value (NULL against NULL: unchanged)
                        return True
                elif abs(a - b) > limit:
                    return True
            return False
        return moved

    def sql(self, scraper: Any, old: Columns, new: Columns, slack: float = 0.0) -> sa.ColumnElement[bool]:
        limit = self.limit(scraper)
        terms = []
        for c in self.cols:
            a, b = new[c], old[c]
            # b ± bound rounds once where Python's a - b does not: the bound is lowered by a relative
            # RANGE_SLACK (or the dialect's larger slack), so SQL can only err towards a candidate
            bound = _number(limit) - (sa.func.abs(b) + _number(abs(limit) + 1)) * _number(max(slack, RANGE_SLACK))
            # a range on the column rather than |a - b|: as cheap, and a value of the wrong kind (text or a
            # blob, which SQLite sorts above every number; ±inf; PostgreSQL's NaN, above every number) lies
            # outside every range, a candidate Python then judges (db/kinds.py), with no term of its own.
            # The range is NULL exactly when a side is: then (a IS NULL) != (b IS NULL), NULL against a
            # value. A row the rule calls unchanged, most of those a search looks at, costs one range test
            terms.append(sa.func.coalesce(sa.not_(a.between(b - bound, b + bound)), a.is_(None) != b.is_(None)))
        return any_of(terms)


class Differs(Rule):
    """Changed when any column differs at all: sv[-1][c] != sv[0][c] (a state, a flag, a setting)."""

    def __init__(self, cols: str | Iterable[str]):
        self.cols = _names(cols)

    def __repr__(self) -> str:
        return f"Differs({list(self.cols)!r})"

    def sees_wrong_kinds(self) -> bool:
        return True  # outside every range / distinct from the value Python holds (see sql)

    def columns(self) -> tuple[str, ...]:
        return self.cols

    def python(self, scraper: Any) -> Test:
        cols = self.cols

        def differs(old: "Instance", new: "Instance") -> bool:
            for c in cols:
                if new[c] != old[c]:  # None == None; None != value: NULL is data
                    return True
            return False
        return differs

    def sql(self, scraper: Any, old: Columns, new: Columns, slack: float = 0.0) -> sa.ColumnElement[bool]:
        # IS DISTINCT FROM (SQLite `IS NOT`, MariaDB `NOT <=>`): NULL-safe, as Python's != is
        return any_of(new[c].is_distinct_from(old[c]) for c in self.cols)


class AnyOf(Rule):
    """`a | b`: changed when any of the rules says changed."""

    def __init__(self, *rules: Rule):
        self.rules = rules

    def __repr__(self) -> str:
        return " | ".join(map(repr, self.rules))

    def sees_wrong_kinds(self) -> bool:
        return all(r.sees_wrong_kinds() for r in self.rules)

    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for r in self.rules for c in r.columns()))

    def python(self, scraper: Any) -> Test:
        tests = [r.python(scraper) for r in self.rules]
        return lambda old, new: any(t(old, new) for t in tests)

    def sql(self, scraper: Any, old: Columns, new: Columns, slack: float = 0.0) -> sa.ColumnElement[bool]:
        return any_of(r.sql(scraper, old, new, slack) for r in self.rules)


class AllOf(Rule):
    """`a & b`: changed only when every rule says changed."""

    def __init__(self, *rules: Rule):
        self.rules = rules

    def __repr__(self) -> str:
        return " & ".join(f"({r!r})" if isinstance(r, AnyOf) else repr(r) for r in self.rules)

    def sees_wrong_kinds(self) -> bool:
        return all(r.sees_wrong_kinds() for r in self.rules)

    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for r in self.rules for c in r.columns()))

    def python(self, scraper: Any) -> Test:
        tests = [r.python(scraper) for r in self.rules]
        return lambda old, new: all(t(old, new) for t in tests)

    def sql(self, scraper: Any, old: Columns, new: Columns, slack: float = 0.0) -> sa.ColumnElement[bool]:
        # `(x) IS TRUE` keeps each part a unit SQLAlchemy does not flatten into its neighbours
        return sa.and_(*(r.sql(scraper, old, new, slack).is_(sa.true()) for r in self.rules))


def any_of(conditions: Iterable[sa.ColumnElement[bool]], width: int = BLOCK) -> sa.ColumnElement[bool]:
    """OR of many conditions, grouped in parenthesised blocks of `width` (SQLite's depth limit)."""
    terms: Sequence[sa.ColumnElement[bool]] = list(conditions)
    while len(terms) > width:
        # `(block) IS TRUE`: SQLAlchemy flattens a nested or_() (even in parentheses) back into one
        # chain; a comparison it leaves alone, and in a WHERE clause it means the same (NULL is not true)
        terms = [sa.or_(*terms[k:k + width]).is_(sa.true()) for k in range(0, len(terms), width)]
    return sa.or_(*terms)


def _number(x: float) -> sa.ColumnElement:
    """Constants inline: fewer parameters per statement, and the planner sees them."""
    return sa.literal_column(repr(float(x)))
