"""The public regime API: what a physicist writes to scrape a new kind of source table.

A regime module declares its source tables (`dcs_table`), a Source list, a Target, a Scraper subclass
(a `change` rule or `changed`, and `propagate`) and a Faker subclass; a Regime subclass ties them
together and is what `regime = pkg.mod:Class` names.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Mapping, Sequence

import sqlalchemy as sa

from scraper.core.source import Source
from scraper.db import DateTime

if TYPE_CHECKING:  # pragma: no cover
    from scraper.config import Settings
    from scraper.core.sourcevector import SourceVector
    from scraper.rules import Rule


def dcs_table(metadata: sa.MetaData, name: str, *columns: sa.Column) -> sa.Table:
    """A source table shaped as DCS writes them: an auto-increment id and a naive local date_time
    (indexed) first, then the regime's value columns. What the faker creates and the tests fill; the
    scraper itself reflects the real table and needs only id and date_time to be there."""
    return sa.Table(
        name, metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("date_time", DateTime, nullable=False, index=True),
        *columns,
        mysql_engine="InnoDB",
    )


class Target:
    """The target payload table, declared in Python next to the regime: `Target("DcsAdTemp", T=Float)`.
    `units={"T": "degC"}` names the physical unit of a column: plots label their axes with it."""

    def __init__(self, kls: str, units: Mapping[str, str] | None = None, **columns: Any):
        self.kls = kls
        self.columns: dict[str, sa.types.TypeEngine] = {
            name: (typ() if isinstance(typ, type) else typ) for name, typ in columns.items()
        }
        self.units: dict[str, str] = dict(units or {})


class Scraper:
    """Base of a regime's scraper: declare `change` (or override `changed`) and `propagate`; the engine
    owns everything else.

    `change = Moved(PT, by="threshold")` is the usual way (scraper.rules): from that one rule the
    engine derives the Python test and an SQL form, so a catch-up lets the database skip the entries
    that cannot be changed. Overriding `changed(sv)` instead is always possible (state kept between
    calls, anything a rule cannot say): every entry is then judged in Python.

    `aggregates` names the SQL aggregate functions whose results propagate() reads from sv[-1].aggd
    (e.g. ("avg", "min", "max", "std")): a section's `aggregate` key must provide them, and only a
    regime that aggregates can run as an averager. Both are checked before any database is opened."""

    aggregates: ClassVar[tuple[str, ...]] = ()
    change: ClassVar["Rule | None"] = None

    def __init__(self, cfg: "Settings", target: Target):
        self.cfg = cfg
        self.target = target
        self.threshold: float | None = cfg.get("threshold")  # the averager has no threshold
        self._test: Callable[[Any, Any], bool] | None = None

    def changed(self, sv: "SourceVector") -> bool:
        """True when sv[-1] differs enough from sv[0] to be worth a propagation (age is the engine's).
        The default applies `change`; without one, nothing is ever `changed` (maxage alone proceeds)."""
        test = self._test
        if test is None:
            if self.change is None:
                return False
            test = self._test = self.change.python(self)
        return test(sv[0], sv[-1])

    def rule(self) -> "Rule | None":
        """The declared rule when it alone decides `changed` (the engine may then evaluate it in SQL);
        None when there is none, or when `changed()` is overridden (free-form: judged in Python)."""
        if self.change is None or type(self).changed is not Scraper.changed:
            return None
        return self.change

    def propagate(self, sv: "SourceVector") -> Iterable[dict[str, Any]]:
        """Yield one dict per payload row (keys = target columns) for the validity [sv[0].t, sv[-1].t]."""
        raise NotImplementedError(f"{type(self).__name__}.propagate")

    def seed(self, source: Source) -> dict[str, Any]:
        """Payload of a seed validity record; zeros unless the regime knows better."""
        return {name: 0 for name in self.target.columns}


class Faker:
    """Writes fake entries into a regime's source tables so tests and demos have realistic data.

    `tables` is the fake source schema (SQLAlchemy Tables); `fake` returns one row's values.
    """

    tables: ClassVar[Sequence[sa.Table]] = ()
    time_column: ClassVar[str] = "date_time"  # where the faker's DB time goes (and where it resumes)

    def __init__(self, cfg: "Settings"):
        self.cfg = cfg

    def rows(self, table: sa.Table, id: int, dt: datetime, profile) -> list[dict[str, Any]]:
        """The rows one fake entry adds to `table` (ids id, id+1, ...): one unless the table holds
        several interleaved series, as a monitor writing one row per instrument per reading does."""
        return [self.fake(table, id, dt, profile)]

    def fake(self, table: sa.Table, id: int, dt: datetime, profile) -> dict[str, Any]:
        """Default: every value column follows the configured profile of (id, column index, dt)."""
        row: dict[str, Any] = {"id": id, "date_time": dt}
        for index, col in enumerate(c for c in table.columns if c.name not in ("id", "date_time")):
            value = profile(id, index, dt)
            row[col.name] = int(value) if isinstance(col.type, sa.Integer) else value
        return row


class Regime:
    """Umbrella tying together what a regime contributes; subclasses set the class attributes."""

    sources: ClassVar[list[Source]] = []
    target: ClassVar[Target]
    scraper: ClassVar[type[Scraper]] = Scraper
    faker: ClassVar[type[Faker]] = Faker
    # mode = bridge (docs/bridge.md): the columns of the Grafana table of each source, besides `time`.
    # None: the source's own value columns (every column but id and date_time), as reflected.
    bridge_columns: ClassVar[Mapping[str, Any] | None] = None
    # Units of source (and bridged) columns, for the axes of plots of sections without a target
    # (bridge, decimator) whose names are not the target's: Target(units=...) serves the names it has.
    units: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def unit(cls, column: str) -> str:
        """The unit of a column for an axis label, '' when the regime does not say."""
        target = getattr(cls, "target", None)
        return getattr(target, "units", {}).get(column) or cls.units.get(column, "")

    @classmethod
    def bridge_rows(cls, source: Source, entry: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        """The rows one source entry becomes in its Grafana table (keys = bridge columns; `time` is the
        bridge's). Default: one row, the entry's value columns. Override to reshape, e.g. one row per
        channel when channels are encoded in column names; a row per entry keeps Grafana queries plain."""
        yield {k: v for k, v in entry.items() if k not in ("id", "date_time")}
