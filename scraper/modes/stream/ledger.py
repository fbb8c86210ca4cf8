"""The target side of a stream section: the regime's tables, the consumed positions and the rejects.

The target is the bookmark. `Ledger.write(batch)` is the ONE function through which a stream section
writes: the rows of every new message of the batch, the rejects and the next offset of every
partition the batch read go in ONE transaction, so whatever stops the process, the target holds a
message's rows exactly when it holds a position past it. A message whose key is already in the
message table (a producer's replay, a partition re-read after a rebalance) writes nothing: replayed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from scraper.db import DateTime

from .regime import StreamRegime

log = logging.getLogger("scraper.stream")
POSITIONS, REJECTS = "stream_positions", "stream_rejects"
IN_CHUNK = 500  # keys per IN (...) lookup
ATTEMPTS = 5    # a concurrent writer of the same key (another process of the group) makes us re-check
RAW = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


@dataclass
class Item:
    """One consumed message: its place, its bytes, and either its key and rows or why it is rejected."""

    topic: str
    partition: int
    offset: int
    raw: bytes | None
    key: tuple | None = None
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    reason: str | None = None


@dataclass
class Outcome:
    written: int = 0
    replayed: int = 0
    rejected: int = 0
    rows: int = 0
    new: list[Item] = field(default_factory=list)


def positions_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        POSITIONS, metadata,
        sa.Column("section", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(249), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
        sa.Column("updated", DateTime, nullable=False),
        mysql_engine="InnoDB",
    )


def rejects_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        REJECTS, metadata,
        sa.Column("section", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(249), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("offset", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("raw", RAW),
        sa.Column("time", DateTime, nullable=False),
        mysql_engine="InnoDB",
    )


class Ledger:
    def __init__(self, engine: sa.Engine, section: str, regime: type[StreamRegime],
                 before_commit: Callable[[list[Item]], None] | None = None):
        self.engine, self.section, self.regime = engine, section, regime
        self.metadata = sa.MetaData()
        self.tables = list(regime.tables(self.metadata))
        self.messages = self.tables[0]
        self.key_columns = [self.messages.c[k] for k in regime.key]
        self.positions = positions_table(self.metadata)
        self.rejects = rejects_table(self.metadata)
        self.before_commit = before_commit  # the store: files fsynced before the commit

    # --- schema -----------------------------------------------------------------------------------
    def missing(self) -> list[str]:
        have = set(sa.inspect(self.engine).get_table_names())
        return [t.name for t in self.metadata.sorted_tables if t.name not in have]

    def create(self, drop: bool = False) -> None:
        with self.engine.begin() as conn:
            if drop:
                self.metadata.drop_all(conn, tables=self.tables)
            self.metadata.create_all(conn)

    # --- reads ------------------------------------------------------------------------------------
    def stored_positions(self, topics: Iterable[str] | None = None) -> dict[tuple[str, int], int]:
        """(topic, partition) -> next offset to consume, as committed with the rows."""
        p = self.positions.c
        stmt = sa.select(p.topic, p.partition, p.next_offset).where(p.section == self.section)
        if topics is not None:
            stmt = stmt.where(p.topic.in_(list(topics)))
        with self.engine.connect() as conn:
            return {(t, part): off for t, part, off in conn.execute(stmt)}

    def existing_keys(self, conn: sa.Connection, keys: Sequence[tuple]) -> set[tuple]:
        found: set[tuple] = set()
        for i in range(0, len(keys), IN_CHUNK):
            chunk = keys[i:i + IN_CHUNK]
            if len(self.key_columns) == 1:
                where = self.key_columns[0].in_([k[0] for k in chunk])
            else:
                where = sa.tuple_(*self.key_columns).in_(chunk)
            found.update(tuple(r) for r in conn.execute(sa.select(*self.key_columns).where(where)))
        return found

    # --- the one write ----------------------------------------------------------------------------
    def write(self, batch: list[Item]) -> Outcome:
        """Rows of the new messages, rejects and positions in ONE transaction (see the module doc).
        A unique-key clash means another process of the group wrote the same message meanwhile: the
        transaction is rolled back and done again, now seeing that message as replayed. So does a
        deadlock between two such writers (InnoDB's, PostgreSQL's): the same clash seen from the locks,
        not an outage of the target."""
        for attempt in range(ATTEMPTS):
            try:
                with self.engine.begin() as conn:
                    return self._write(conn, batch)
            except sa.exc.DBAPIError as exc:
                if attempt == ATTEMPTS - 1 or not _clash(exc):
                    raise
                log.debug("a concurrent writer stored some of these keys first; writing the batch again")
        raise AssertionError("unreachable")

    def _write(self, conn: sa.Connection, batch: list[Item]) -> Outcome:
        out = Outcome()
        good = [it for it in batch if it.reason is None]
        present = self.existing_keys(conn, [it.key for it in good]) if good else set()
        seen: set[tuple] = set()
        rows: dict[str, list[dict]] = {t.name: [] for t in self.tables}
        for it in sorted(good, key=lambda it: tuple(map(str, it.key))):  # one order: writers lock keys alike
            if it.key in present or it.key in seen:
                out.replayed += 1
                continue
            seen.add(it.key)
            out.new.append(it)
            for table, table_rows in it.rows.items():
                rows[table] += table_rows
        for table in self.tables:  # message table first: its unique key is what a clash hits
            if rows[table.name]:
                conn.execute(table.insert(), rows[table.name])
                out.rows += len(rows[table.name])
        out.written = len(out.new)
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        bad = [it for it in batch if it.reason is not None]
        if bad:
            r = self.rejects.c
            known = {(t, p, o) for t, p, o in conn.execute(
                sa.select(r.topic, r.partition, r.offset).where(
                    r.section == self.section, sa.tuple_(r.topic, r.partition, r.offset).in_(
                        [(it.topic, it.partition, it.offset) for it in bad])))}
            fresh = [{"section": self.section, "topic": it.topic, "partition": it.partition, "offset": it.offset,
                      "reason": it.reason[:500], "raw": it.raw, "time": now}
                     for it in bad if (it.topic, it.partition, it.offset) not in known]
            if fresh:
                conn.execute(self.rejects.insert(), fresh)
            out.rejected = len(bad)
        self._advance(conn, batch, now)
        if self.before_commit is not None and out.new:
            self.before_commit(out.new)
        return out

    def _advance(self, conn: sa.Connection, batch: list[Item], now: datetime) -> None:
        """Each partition's next offset moves forward only: a late batch of a partition that has
        since moved to another process of the group never sets it back."""
        ends: dict[tuple[str, int], int] = {}
        for it in batch:
            ends[(it.topic, it.partition)] = max(ends.get((it.topic, it.partition), 0), it.offset + 1)
        p = self.positions.c
        for (topic, part), nxt in ends.items():
            where = sa.and_(p.section == self.section, p.topic == topic, p.partition == part)
            done = conn.execute(sa.update(self.positions).where(where, p.next_offset < nxt)
                                .values(next_offset=nxt, updated=now)).rowcount
            if not done and conn.execute(sa.select(p.next_offset).where(where)).first() is None:
                conn.execute(sa.insert(self.positions).values(section=self.section, topic=topic, partition=part,
                                                              next_offset=nxt, updated=now))


DEADLOCKS = {1213}, {"40P01", "40001"}  # MySQL/MariaDB error codes, PostgreSQL SQLSTATEs


def _clash(exc: sa.exc.DBAPIError) -> bool:
    """A concurrent writer of the same keys: a unique-key violation, or a deadlock on those keys."""
    if isinstance(exc, sa.exc.IntegrityError):
        return True
    orig = exc.orig
    code = orig.args[0] if getattr(orig, "args", None) and isinstance(orig.args[0], int) else None
    return code in DEADLOCKS[0] or getattr(orig, "sqlstate", None) in DEADLOCKS[1]
