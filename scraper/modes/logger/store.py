"""The logger's target: the bridge's time-series layout on SQLite, MariaDB and PostgreSQL, plus the
file ledger.

A table per topic, named after it: `time` (UTC unix seconds) and the topic's fields, so Grafana reads
a logged table like a bridged one. Unique on (time, the topic's identity fields), and every row is
inserted "if new": a file read again or a spool record sent again after a lost acknowledgement writes
nothing twice. `logger_files` is the ledger of loaded files (path, size, mtime, sha256, rows), written
in the transaction of the file's rows, so a file is in the target whole with its ledger row or not at
all; its sha256 is unique per section, so a same-content twin under another name adds nothing.

`write()` is the ONE function through which every target transaction of the mode goes.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from scraper import db
from scraper.config import Settings
from scraper.db.inserts import DriverSQL, insert_new, sqlite_json_insert
from scraper.runtime.retry import OUTAGE, classify, db_errors, reason
from scraper.targets.timeseries import series_table

from .api import Topic
from .batches import Batch

log = logging.getLogger("scraper.logger")
LEDGER = "logger_files"
SQLITE_BUSY_MS = 500
IDENTITY_TEXT = 191  # an indexed text column on MariaDB (utf8mb4: 4 bytes a character, 767-byte keys)


def column_type(typ: type, identity: bool) -> sa.types.TypeEngine:
    if typ is float:
        return sa.Double()
    if typ is int:
        return sa.BigInteger()
    if typ is bool:
        return sa.SmallInteger()
    return sa.String(IDENTITY_TEXT) if identity else sa.Text()


def topic_table(md: sa.MetaData, topic: Topic, backend: str) -> sa.Table:
    columns = {name: column_type(typ, name in topic.identity) for name, typ in topic.fields.items()}
    # SQLite: INTEGER affinity keeps whole seconds integers and the rest REAL, as the bridge's files
    time_type = sa.Integer if backend == "sqlite" else sa.Double
    return series_table(md, topic.name, columns, time_type=time_type, unique=topic.identity)


def ledger_table(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        LEDGER, md,
        sa.Column("section", sa.String(64), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime", sa.Double, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("loaded", db.DateTime, nullable=False),
        sa.UniqueConstraint("section", "sha256", name=f"{LEDGER}_content"),
    )


class Store:
    """The target of one logger section; connects lazily so a target down at start-up is spooled for."""

    def __init__(self, cfg: Settings, topics: Sequence[Topic]):
        self.cfg = cfg
        self.topics = list(topics)
        self.engine: Engine | None = None
        self.ready = False
        self.md = sa.MetaData()
        self.tables: dict[str, sa.Table] = {}
        self.inserts: dict[str, DriverSQL] = {}
        self.json_inserts: dict[str, str] = {}  # SQLite: table -> the INSERT of a JSON array of rows
        self.ledger: sa.Table | None = None
        self.ledger_insert: Any = None
        self.ledger_lookup: DriverSQL | None = None
        self.on_ready = None  # called once the tables exist (the runner's metrics go there)

    def connect(self) -> None:
        """The engine, proven where possible: a mistake (wrong password, no such database) is one line
        now; an outage is not waited for here (the mode spools meanwhile)."""
        def probe_once(_key: str, check) -> None:
            try:
                check()
            except db_errors() as exc:
                if classify(exc) != OUTAGE:
                    raise
                log.info("target not reachable at start-up (%s): polled batches are spooled until it is",
                         reason(exc))

        self.engine = db.connect(self.cfg, "target", writer=True, create=True, retry=probe_once)
        backend = self.engine.dialect.name
        if backend == "sqlite":
            self._short_busy_wait(self.engine)
        backend = "mysql" if backend in ("mysql", "mariadb") else backend
        for topic in self.topics:
            table = topic_table(self.md, topic, backend)
            self.tables[topic.name] = table
            self.inserts[topic.name] = DriverSQL(self.engine, insert_new(backend, table, "time"),
                                                 [c.name for c in table.c])
        self.ledger = ledger_table(self.md)
        self.ledger_insert = self.ledger.insert()  # write() leaves out a content already there
        c = self.ledger.c  # compiled once for the driver: a file's transaction asks it once
        self.ledger_lookup = DriverSQL(self.engine, sa.select(c.path).where(c.section == sa.bindparam("section"),
                                                                            c.sha256 == sa.bindparam("sha")),
                                       ["section", "sha"])

    @staticmethod
    def _short_busy_wait(engine: Engine) -> None:
        """A SQLite file locked by another writer is an outage to spool through, not to sit out: the
        poll loop waits SQLITE_BUSY_MS at most (the engine's default would stop polling for seconds)."""
        from sqlalchemy import event

        @event.listens_for(engine, "connect")
        def _busy(dbapi_conn, _record):  # pragma: no cover - every SQLite logger test goes through it
            dbapi_conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")

        engine.dispose()  # the probe's pooled connection had the default

    def _prepare(self) -> None:
        assert self.engine is not None
        with self.engine.begin() as conn:
            self.md.create_all(conn, checkfirst=True)
        if self.engine.dialect.name == "sqlite":
            for name, table in self.tables.items():
                sql = sqlite_json_insert(self.engine, table)
                if sql is not None:
                    self.json_inserts[name] = sql
        self.ready = True
        if self.on_ready is not None:
            self.on_ready(self.engine)

    def write(self, batches: Sequence[Batch]) -> dict[str, str]:
        """Every target transaction of the mode: the batches' rows and their ledger rows, whole or absent.

        A file's batch whose content (sha256) the ledger already holds, or an earlier batch of these
        holds, writes nothing: the returned {path: path} names those files, with the path under which
        that content was loaded."""
        if not self.ready:
            self._prepare()
        assert self.engine is not None and self.ledger is not None and self.ledger_lookup is not None
        with self.engine.begin() as conn:
            known: dict[str, str] = {}  # sha256 -> the path it was (or is now) loaded under
            for batch in batches:
                if batch.ledger is not None:
                    sha = batch.ledger["sha256"]
                    path = self.ledger_lookup.one(conn, (self.cfg.section, sha)).scalar()
                    if path is not None:
                        known[sha] = path
            per_table: dict[str, list[tuple]] = {}
            ledger = []
            twins: dict[str, str] = {}
            loaded = datetime.now(timezone.utc).replace(tzinfo=None)
            for batch in batches:  # one executemany per table: a drained chunk is many small polls
                if batch.ledger is not None:
                    sha = batch.ledger["sha256"]
                    if sha in known:
                        twins[batch.ledger["path"]] = known[sha]
                        continue
                    ledger.append({**batch.ledger, "section": self.cfg.section, "loaded": loaded})
                    known[sha] = batch.ledger["path"]  # a twin later in these batches adds nothing
                for table, rows in batch.rows.items():
                    per_table.setdefault(table, []).extend(rows)
                for table, texts in batch.arrays.items():
                    if table not in self.json_inserts:  # no JSON in this target's SQL: decoded here
                        per_table.setdefault(table, []).extend(r for text in texts for r in json.loads(text))
                        continue
                    for text in texts:
                        conn.exec_driver_sql(self.json_inserts[table], (text.decode(),))
            for table, rows in per_table.items():
                self.inserts[table].run(conn, rows)
            if ledger:
                conn.execute(self.ledger_insert, ledger)
        return twins

    @property
    def parses_json(self) -> bool:
        """Whether spooled rows may come as JSON arrays (SQLite parses them; write() decodes them if not)."""
        return self.engine is not None and self.engine.dialect.name == "sqlite"

    def aligned(self, groups: dict[tuple[str, tuple[str, ...] | None], list[list] | bytes]
                ) -> tuple[dict[str, list], dict[str, list[bytes]]]:
        """Spooled rows per table in each table's column order, and JSON arrays of rows already in it.
        A record names its rows' columns: one spooled before the regime's fields changed is written by
        name (a field it lacks is NULL); a column or topic the regime no longer declares is a
        ValueError (nothing is dropped silently)."""
        out: dict[str, list] = {}
        arrays: dict[str, list[bytes]] = {}
        for (table, columns), rows in groups.items():
            if table not in self.tables:
                raise ValueError(f'topic "{table}" is no longer declared by the regime')
            own = [c.name for c in self.tables[table].c]
            if isinstance(rows, bytes):
                if columns is None or list(columns) == own:
                    arrays.setdefault(table, []).append(rows)
                    continue
                rows = json.loads(rows)
            if columns is not None and list(columns) != own:
                lost = [c for c in columns if c not in own]
                if lost:
                    raise ValueError(f"{table}: field(s) {', '.join(lost)} are no longer declared by the regime")
                where = [columns.index(c) if c in columns else None for c in own]
                rows = [[None if i is None else r[i] for i in where] for r in rows]
            if table in out:
                out[table] += rows
            else:
                out[table] = rows
        return out, arrays

    def newest(self) -> float | None:
        if not self.ready or self.engine is None:
            return None
        newest = None
        with self.engine.connect() as conn:
            for table in self.tables.values():
                t = conn.execute(sa.select(sa.func.max(table.c.time))).scalar()
                if t is not None and (newest is None or t > newest):
                    newest = float(t)
        return newest

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
