"""One writer per section: a lease in the database the section writes, and fencing of every write.

Operators run the same supervisord files on two hosts for availability, or start a section twice by
mistake. Without a lease both copies write, and every record lands twice. So a writing section first
takes the lease of its section, a row of `scraper_leases(section, holder, epoch, renewed)` in the
database it writes (the target; the source for the decimator, which thins in place). Whoever finds it
held becomes a **standby**: one log line naming the holder, then it watches the row. The holder renews
it every third of `lease_timeout` from a thread of its own, so a long catch-up transaction, a slow
aggregate or a regime that takes its time never delays a renewal. When the row has not changed for
`lease_timeout` of the standby's own clock (minus two polls, so that the takeover falls within
`lease_timeout` of the holder's last renewal), the standby takes it with a compare-and-set that bumps
`epoch`. No clocks of two hosts are ever compared: only "has the row changed since I last looked".
A holder of this very host whose process has ended is taken over at once (`gone`): a crashed
program that supervisord restarts does not wait for its own dead predecessor.

**Fencing.** A frozen holder (SIGSTOP, a VM paused, a host swapping) wakes up still believing it
holds the lease. So every write transaction on a fenced engine ends with one statement, inside
itself, just before COMMIT: `UPDATE scraper_leases SET renewed = now WHERE section = S AND epoch = E
AND holder = ME`. It matches no row once another process took the lease, and then the transaction is
rolled back and LeaseLost is raised: the old holder writes nothing more, and the mode is started
again as a standby (`standing_by`), resuming from the target like any restart once it holds the lease
again. The statement takes the lease row's lock (InnoDB, PostgreSQL) or runs under the write lock
(SQLite), so a takeover and a holder's commit are serialized: the new holder resumes from a target
that holds every commit of the old one. One statement per write transaction, never one per entry.

Wiring a mode (stream, logger, ...; what scraper, averager, bridge and decimator do):

    runner.hold(engine, "target")   # after connecting to the database it writes (and after the
                                    # checks that find operator mistakes), before resuming from
                                    # it: blocks while another process holds the section
    ... write through `engine` ...  # every commit on it is fenced (Lease.fence, a commit hook)

`Runner.run` releases the lease when the job ends, so that a standby takes over at once, and raises
LeaseLost from the loop when the renewal thread found the lease taken. `Mode.run` wraps the mode's
`run` in `standing_by`, which turns LeaseLost into "stand by, then run the mode again". A `--catchup`
standby thus runs once the holder has finished, finds nothing left, and exits 0.

API: `Lease(engine, section, timeout, stop, retry)`; `.acquire()` (blocks; raises Stopped when a
stop is requested meanwhile); `.fence(engine)`; `.check(conn)` (the fencing statement, for a
transaction that does not end through SQLAlchemy's commit); `.lost`; `.release()`; `.close()`.
`holder(engine, section)` reads the row for `scr.py status`.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from scraper.db import DateTime
from scraper.db import limits
from scraper.runtime.retry import OUTAGE, Stopped, classify, db_errors, reason
from scraper.runtime.standbys import Waiting

log = logging.getLogger("scraper.lease")
T = TypeVar("T")
TABLE = "scraper_leases"
FREE = ""  # the holder of a released lease: the next process takes it at once
POLL_MAX = 1.0  # seconds between two looks of a standby at the lease row (less for short timeouts)


class LeaseLost(Exception):
    """Another process holds this section's lease now: nothing more may be written."""


def lease_table(metadata: sa.MetaData | None = None) -> sa.Table:
    return sa.Table(
        TABLE, metadata or sa.MetaData(),
        sa.Column("section", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),  # host:pid, or FREE
        sa.Column("epoch", sa.Integer, nullable=False),  # bumped by every takeover: what fencing compares
        sa.Column("renewed", DateTime, nullable=False),  # the holder's UTC clock; only ever compared for change
    )


def me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class Holding:
    """The lease row as read: who holds the section, in which epoch, renewed when (their clock)."""

    holder: str
    epoch: int
    renewed: datetime

    @property
    def free(self) -> bool:
        return self.holder == FREE


def holder(engine: Engine, section: str) -> Holding | None:
    """The lease row of `section` (None: never held, or no lease table in that database)."""
    if not sa.inspect(engine).has_table(TABLE):
        return None
    with engine.connect() as conn:
        return read_holder(conn, section)


def read_holder(conn: sa.Connection, section: str) -> Holding | None:
    """The lease row of `section`, read through `conn` (its table known to exist)."""
    t = lease_table().c
    row = conn.execute(sa.select(t.holder, t.epoch, t.renewed).where(t.section == section)).first()
    return Holding(*row) if row is not None else None


def gone(holder: str) -> bool:
    """True when `holder` names a process of this host that has ended (or is a zombie): it can write
    nothing more, so its section is taken at once instead of after lease_timeout. Anything uncertain
    (another host, a process of another user, a reused pid) is not gone: then the timeout decides,
    and fencing keeps even a wrong guess harmless."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # killed, not yet reaped by its parent
    except (OSError, IndexError):
        return False


class Lease:
    """This process's claim on one section (see the module docstring)."""

    def __init__(self, engine: Engine, section: str, timeout: float, stop: threading.Event,
                 retry: Callable[..., Any] | None = None):
        self.engine, self.section, self.timeout, self.stop = engine, section, timeout, stop
        self.retry = retry or (lambda _which, fn, *a: fn(*a))
        self.me = me()
        self.epoch: int | None = None
        self.poll = max(min(POLL_MAX, timeout / 10), 0.05)
        t = lease_table()
        self.table = t
        self._fence = (t.update().where(t.c.section == section, t.c.epoch == sa.bindparam("e"),
                                        t.c.holder == self.me).values(renewed=sa.bindparam("now")))
        self._lost = threading.Event()
        self._closed = threading.Event()
        self._renewer: threading.Thread | None = None
        self._fenced: list[Engine] = []
        self.which = "target"  # the config key of the database the lease lives in (acquire says)

    # --- taking the lease -------------------------------------------------------------------------
    def acquire(self, which: str = "target") -> None:
        """Hold the lease when this returns: at once when it is free, after a takeover otherwise.
        Outages are waited out through `retry(which, fn)`; a stop request raises Stopped."""
        self.which = which
        self.retry(which, self._create)
        waiting = Waiting(self.engine, self.section, self.me, self.timeout / 3)  # shown by `scr.py status`
        try:
            row, told = self._wait_for_it(which, waiting)
        finally:
            waiting.drop()
        if not told:
            # DEBUG: the ordinary case says nothing (an operator mistake found next stays ONE line)
            log.debug("[%s] holding the section as %s (epoch %d)", self.section, self.me, self.epoch)
        elif row is not None and row.free:
            log.warning("[%s] took the section over: its holder released it (epoch %d)", self.section, self.epoch)
        self._start_renewing(which)

    def _wait_for_it(self, which: str, waiting: Waiting) -> tuple[Holding | None, bool]:
        """Until this process holds the lease: (the row as last seen, whether it said it stands by)."""
        seen: Holding | None = None
        since = time.monotonic()
        told = False
        while True:
            row = self.retry(which, holder, self.engine, self.section)
            if row is None or row.free or row.holder == self.me:  # free, or left by this very process
                if self.retry(which, self._take, row):
                    break
                continue
            if gone(row.holder):  # died on this very host (a crash that supervisord restarts): no wait
                if self.retry(which, self._take, row):
                    log.warning("[%s] took the section over from %s: that process is gone (epoch %d)",
                                self.section, row.holder, self.epoch)
                    break
                continue
            if row != seen:
                seen, since = row, time.monotonic()
                if not told:
                    log.warning("[%s] standby: the section is held by %s (epoch %d); taking over if it stops "
                                "renewing for %gs", self.section, row.holder, row.epoch, self.timeout)
                    told = True
            elif time.monotonic() - since >= self.timeout - 2 * self.poll:
                if self.retry(which, self._take, row):
                    log.warning("[%s] took the section over from %s: its lease unchanged for %.1fs (epoch %d)",
                                self.section, row.holder, time.monotonic() - since, self.epoch)
                    break
            waiting.refresh()
            if self.stop.wait(self.poll):
                raise Stopped(f"[{self.section}] stopped while standing by")
        return row, told

    def _create(self) -> None:
        """Created on demand like scraper_metrics; two processes starting at once both succeed."""
        try:
            with self.engine.begin() as conn:
                self.table.create(conn, checkfirst=True)
        except (OperationalError, ProgrammingError, IntegrityError):
            if not sa.inspect(self.engine).has_table(TABLE):
                raise

    def _take(self, seen: Holding | None) -> bool:
        """Compare-and-set: the row is still exactly as seen (or absent), then it is ours, epoch + 1.
        False when another process changed it first."""
        t = self.table.c
        now = _now()
        try:
            with self.engine.begin() as conn:
                if seen is None:
                    conn.execute(self.table.insert(), {"section": self.section, "holder": self.me, "epoch": 1,
                                                       "renewed": now})
                    self.epoch = 1
                    return True
                done = conn.execute(self.table.update().where(
                    t.section == self.section, t.epoch == seen.epoch, t.holder == seen.holder,
                    t.renewed == seen.renewed).values(holder=self.me, epoch=seen.epoch + 1, renewed=now))
                if done.rowcount != 1:
                    return False
                self.epoch = seen.epoch + 1
                return True
        except IntegrityError:
            return False  # another process inserted the first row at the same moment

    # --- keeping it -------------------------------------------------------------------------------
    def _start_renewing(self, which: str) -> None:
        self._renewer = threading.Thread(target=self._renew_loop, args=(which,), name=f"lease-{self.section}",
                                         daemon=True)
        self._renewer.start()

    def _renew_loop(self, which: str) -> None:
        every = self.timeout / 3
        while not self._closed.wait(every) and not self._lost.is_set():
            try:
                with self.engine.begin() as conn:
                    still = conn.execute(self._fence, {"e": self.epoch, "now": _now()}).rowcount == 1
            except db_errors() as exc:
                if classify(exc) != OUTAGE:  # the database or the table is gone: renewing cannot help,
                    log.warning("[%s] cannot renew the lease: %s", self.section, reason(exc))
                    return  # and the next commit's fence finds out whether the lease is still ours
                continue  # an outage: the retrier of the main loop says so; renew when it is back
            if not still and not self._closed.is_set():  # not our own release that came first
                self._lose()

    def _lose(self, conn: sa.Connection | None = None) -> None:
        """`conn`: the transaction that found the lease taken, read through: on SQLite a second
        connection would wait out busy_timeout for the write lock this one holds (the bridge's file
        begins every transaction IMMEDIATE), and every other copy with it."""
        if self._lost.is_set():
            return
        self._lost.set()
        now = (self._quietly(read_holder, conn, self.section) if conn is not None
               else self._quietly(holder, self.engine, self.section))
        who = f" to {now.holder} (epoch {now.epoch})" if now is not None and not now.free else ""
        log.warning("[%s] lost the section%s: writing nothing more, standing by", self.section, who)

    def _quietly(self, fn: Callable[..., T], *args: Any) -> T | None:
        try:
            return fn(*args)
        except db_errors():
            return None

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def verify(self) -> None:
        """Raise LeaseLost when the renewal thread found the lease taken (called between rounds)."""
        if self._lost.is_set():
            raise LeaseLost(f"[{self.section}] another process holds the section now")

    # --- fencing ----------------------------------------------------------------------------------
    def check(self, conn: sa.Connection) -> None:
        """Inside a write transaction, as its last statement: still ours (and renewed), else LeaseLost."""
        if self._lost.is_set() or conn.execute(self._fence, {"e": self.epoch, "now": _now()}).rowcount != 1:
            self._lose(conn)
            raise LeaseLost(f"[{self.section}] another process holds the section now: transaction rolled back")

    def fence(self, engine: Engine) -> None:
        """Every COMMIT on `engine` from now on first runs `check` in the committing transaction.

        And a transaction on `engine` left idle for half of `lease_timeout` is ended by the server (its
        session with it): a holder frozen inside a write transaction would otherwise keep the locks a
        takeover needs (the lease row's, once its fencing statement ran) for as long as it is frozen.
        Resumed, it finds its connection gone and the section taken (`confirm`). Its transactions are
        short and send statement after statement, so a live holder never idles that long in one.
        SQLite has no server to end a frozen process's transaction: its write lock stays until the
        process resumes (and commits, still the holder) or dies (and the standby takes over)."""
        event.listen(engine, "commit", self._on_commit)
        self._fenced.append(engine)
        limits.end_idle_transactions(engine, self.timeout / 2)

    def confirm(self, which: str) -> None:
        """An outage of the database the lease lives in: when the section was taken meanwhile (this
        process was frozen, and the server ended its idle transaction), that is no outage to wait out
        but LeaseLost. Called by the retrier before it says a database is down. Already found lost (the
        renewal thread, resumed at the same moment, can be first): LeaseLost at once, no outage said."""
        if which != self.which or self.epoch is None:
            return
        self.verify()
        for attempt in (1, 2):  # the first may meet another pooled connection the server ended too
            try:
                row = holder(self.engine, self.section)
                break
            except db_errors() as exc:
                log.debug("[%s] cannot read the lease row (%d): %s", self.section, attempt, reason(exc))
                # every pooled connection may be one the server ended while this process was frozen
                # (the renewal's too): the second read goes through a new one
                self.engine.dispose()
        else:
            return  # the database is down: an outage after all
        if row is not None and (row.holder != self.me or row.epoch != self.epoch):
            self._lose()
        self.verify()

    def _on_commit(self, conn: sa.Connection) -> None:
        if threading.current_thread() is self._renewer:
            return  # the renewal is itself the check
        self.check(conn)

    # --- letting go -------------------------------------------------------------------------------
    def release(self) -> None:
        """Free the lease (best effort) so that a standby takes over at once rather than after a timeout."""
        self.close()  # unhooked first: the fence would find the freed row not ours and refuse the COMMIT
        if self.epoch is None or self._lost.is_set():
            return
        t = self.table.c
        try:
            with self.engine.begin() as conn:
                conn.execute(self.table.update().where(t.section == self.section, t.epoch == self.epoch,
                                                       t.holder == self.me).values(holder=FREE, renewed=_now()))
        except (db_errors(), LeaseLost):
            pass  # a standby takes over after lease_timeout instead

    def close(self) -> None:
        """Stop renewing and unhook the fence (the engines may live on, e.g. in a test process)."""
        self._closed.set()
        for engine in self._fenced:
            if event.contains(engine, "commit", self._on_commit):
                event.remove(engine, "commit", self._on_commit)
        self._fenced.clear()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=1)  # it stops at its next wake-up; never hold a shutdown for it


def standing_by(run: Callable[[], T]) -> T:
    """`run()` again each time it ends in LeaseLost: the mode restarts as a standby and, once it holds
    the section again, resumes from what the new holder has written."""
    while True:
        try:
            return run()
        except LeaseLost as exc:
            log.debug("%s; standing by", exc)  # the lease said so already, naming the new holder


__all__ = ["Holding", "Lease", "LeaseLost", "TABLE", "holder", "lease_table", "me", "standing_by"]
