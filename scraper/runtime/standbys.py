"""The standby copies of a section, as `scr.py status` shows them beside its HOLDER.

The lease row (runtime/lease.py) names one process: the holder. A standby must be visible too, or an
operator who set up two hosts cannot tell a working spare from one that never started. So a standby
records itself in a sibling table in the same database, `scraper_standbys(section, standby, since,
seen)`: one row per waiting process (host:pid), written when it starts waiting, its `seen` refreshed
every third of `lease_timeout` while it waits, and deleted when it takes the section or stops waiting.
A standby that dies without deleting its row (SIGKILL, a lost host) stops refreshing it: `status`
leaves out rows not refreshed for two `lease_timeout`s, and a dead process of this host at once.

The rows are informative only: nothing decides on them, fencing and takeover read only the lease row.
So every write here is best effort (an outage or a read-only grant just leaves the row out).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from scraper.db import DateTime
from scraper.runtime.retry import db_errors

log = logging.getLogger("scraper.lease")
TABLE = "scraper_standbys"


def standby_table(metadata: sa.MetaData | None = None) -> sa.Table:
    return sa.Table(
        TABLE, metadata or sa.MetaData(),
        sa.Column("section", sa.String(64), primary_key=True),
        sa.Column("standby", sa.String(255), primary_key=True),  # host:pid of the waiting process
        sa.Column("since", DateTime, nullable=False),  # its UTC clock when it started waiting
        sa.Column("seen", DateTime, nullable=False),  # its UTC clock at its latest refresh
    )


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class Standby:
    name: str  # host:pid
    since: datetime
    seen: datetime


class Waiting:
    """This process's row while it waits for the lease of `section`: `refresh()` on every look at the
    lease (it writes only every `every` seconds), `drop()` when the wait ends, however it ends."""

    def __init__(self, engine: Engine, section: str, me: str, every: float):
        self.engine, self.section, self.me, self.every = engine, section, me, every
        self.table = standby_table()
        self._last: float | None = None
        self._since = _now()

    def refresh(self) -> None:
        if self._last is not None and time.monotonic() - self._last < self.every:
            return
        self._last = time.monotonic()
        t = self.table
        now = _now()
        try:
            with self.engine.begin() as conn:
                if self._written(conn, now) == 0:
                    conn.execute(t.insert(), {"section": self.section, "standby": self.me, "since": self._since,
                                              "seen": now})
        except IntegrityError:
            pass  # inserted by this very process a moment ago (a retried refresh)
        except (OperationalError, ProgrammingError) as exc:
            if not self._create():
                log.debug("[%s] cannot record the standby: %s", self.section, exc)
        except db_errors() as exc:
            log.debug("[%s] cannot record the standby: %s", self.section, exc)

    def _written(self, conn: sa.Connection, now: datetime) -> int:
        t = self.table.c
        return conn.execute(self.table.update().where(t.section == self.section, t.standby == self.me)
                            .values(seen=now)).rowcount

    def _create(self) -> bool:
        """The table is created on demand like scraper_leases; True when it exists now (the next refresh
        writes the row)."""
        self._last = None
        try:
            with self.engine.begin() as conn:
                self.table.create(conn, checkfirst=True)
            return True
        except db_errors():
            return _has_table(self.engine)

    def drop(self) -> None:
        if self._last is None:
            return  # never written
        t = self.table.c
        try:
            with self.engine.begin() as conn:
                conn.execute(self.table.delete().where(t.section == self.section, t.standby == self.me))
        except db_errors() as exc:
            log.debug("[%s] cannot delete the standby row: %s", self.section, exc)


def _has_table(engine: Engine) -> bool:
    try:
        return sa.inspect(engine).has_table(TABLE)
    except db_errors():
        return False


def standbys(engine: Engine, section: str, now: datetime, timeout: float,
             gone: Callable[[str], bool]) -> list[Standby]:
    """The standbys of `section` still waiting: refreshed within two `timeout`s of `now` (their clock
    against ours: a display, never a decision) and not a process of this host that has ended."""
    if not _has_table(engine):
        return []
    t = standby_table().c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.standby, t.since, t.seen).where(t.section == section)
                            .order_by(t.since, t.standby)).all()
    return [Standby(*r) for r in rows
            if (now - r.seen).total_seconds() <= 2 * timeout and not gone(r.standby)]


__all__ = ["Standby", "TABLE", "Waiting", "standby_table", "standbys"]
