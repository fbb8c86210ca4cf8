"""A Grafana-ready SQLite time-series file: one table per source, `time` in UTC unix seconds.

Grafana's SQLite data source reads the file while the bridge writes it, from another process and
under another user (`grafana`), so the file is set up for exactly that:

* WAL journal: readers never block the writer nor the writer them; `wal_autocheckpoint` pages bound
  the -wal file (0 disables automatic checkpoints, for an operator who runs them himself);
* `synchronous = NORMAL`: a commit survives a killed process; only an OS crash may lose the newest
  rounds, which the next start bridges again since the file is its own bookmark;
* a busy timeout, so a checkpoint or a second writer is waited for rather than an error;
* file and directory group-writable (and owned by `group` when set): SQLite's readers need to write
  the -shm file, and the -wal/-shm files SQLite creates inherit the database file's mode;
* never `grafana.db`, which is Grafana's own database in the same directory.

Each round is ONE transaction holding the new rows of every table, the bookmark of each table
(`bridge_position`: the source key (date_time, id) of the last entry bridged) and the round's
self-metrics, so a reader sees a round whole or not at all and a killed bridge resumes exactly after
the last committed round: no gap, no duplicate.
"""
from __future__ import annotations

import grp
import os
import sqlite3
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

POSITION = "bridge_position"
METRICS = ("bridge_totalLag", "bridge_bridgeLag", "bridge_points")
RESERVED = "grafana.db"


def position_table(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        POSITION, md,
        sa.Column("tablename", sa.Text, primary_key=True),
        sa.Column("section", sa.Text, nullable=False),
        sa.Column("date_time", sa.Text, nullable=False),  # source-local key, isoformat: exact round trip
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("max_id", sa.Integer),  # the highest source id seen: entries committed late are above it
    )


def metric_table(md: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name, md,
        sa.Column("time", sa.Integer, nullable=False),  # INTEGER affinity: whole seconds stay integers
        sa.Column("section", sa.Text, nullable=False),
        sa.Column("value", sa.Float),
        sa.Index(f"{name}_time", "time"),
    )


def series_table(md: sa.MetaData, name: str, columns: dict[str, sa.types.TypeEngine],
                 time_type: Any = sa.Integer, unique: Sequence[str] | None = None) -> sa.Table:
    """`time` is declared INTEGER: SQLite's INTEGER affinity stores 1296518410.0 as the integer
    1296518410 and keeps 1296518410.5 a REAL, the two forms Grafana reads as unix time. (A server
    database has no such affinity: the logger passes a DOUBLE there.) `unique`: the columns that,
    with `time`, identify a point (mode logger); the index on `time` is then that unique one."""
    index = (sa.Index(f"{name}_time", "time") if unique is None
             else sa.Index(f"{name}_key", "time", *unique, unique=True))
    return sa.Table(
        name, md,
        sa.Column("time", time_type, nullable=False),
        *(sa.Column(c, typ) for c, typ in columns.items()),
        index,
    )


def key_text(dt: datetime) -> str:
    return dt.isoformat(sep=" ")


def check_path(path: Path, group: str | None) -> list[tuple[str, str]]:
    """What is wrong with bridging into `path`, as (key, message) pairs; nothing touched on disk.

    Root passes every access() test, so the directory test also looks at the mode bits: a directory
    nobody may write is refused even to root, as it would be to the grafana user."""
    problems: list[tuple[str, str]] = []
    if path.name == RESERVED:
        problems.append(("target", f"{path} is Grafana's own database: bridge into another file (e.g. live.db)"))
    if group:
        try:
            grp.getgrnam(group)
        except KeyError:
            problems.append(("group", f'group "{group}" does not exist (see getent group)'))
    directory = _existing_parent(path.parent)
    if directory is None or not directory.is_dir():
        problems.append(("target", f"{path.parent} is not a directory"))
        return problems
    writable = os.access(directory, os.W_OK | os.X_OK) and directory.stat().st_mode & 0o222
    if not writable:
        problems.append(("target", f"directory {directory} is not writable: SQLite needs to create "
                                   f"{path.name}-wal and {path.name}-shm next to {path.name} (WAL)"))
    if path.exists() and not (os.access(path, os.W_OK) and path.stat().st_mode & 0o222):
        problems.append(("target", f"{path} is not writable"))
    return problems


def _existing_parent(directory: Path) -> Path | None:
    while not directory.exists():
        if directory.parent == directory:
            return None
        directory = directory.parent
    return directory


@dataclass
class Batch:
    """The new rows of one table in one round, and the bookmark they end at."""

    table: str
    rows: list[tuple]
    last_key: tuple[datetime, int]
    entries: int
    max_id: int | None = None


WAL_PAGE_BYTES = 4096  # SQLite's default page size, the unit of wal_autocheckpoint


class TimeSeriesFile:
    """The writer of one bridged file. `columns` per table name: the value columns, besides `time`."""

    def __init__(self, path: Path, *, wal_autocheckpoint: int = 1000, busy_timeout: float = 60.0,
                 group: str | None = None):
        self.path = path
        self.wal_autocheckpoint = wal_autocheckpoint
        self.busy_ms = int(busy_timeout * 1000)
        self.group = group
        self.md = sa.MetaData()
        self.position = position_table(self.md)
        self.metrics = {name: metric_table(self.md, name) for name in METRICS}
        self.tables: dict[str, sa.Table] = {}
        self._insert_sql: dict[str, str] = {}
        self.engine = self._engine()

    def _engine(self) -> Engine:
        fresh = not self.path.exists()
        if fresh:
            self._make_directory(self.path.parent)
        engine = sa.create_engine(f"sqlite:///{self.path}", connect_args={"timeout": self.busy_ms / 1000})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # pragma: no cover - every bridge test goes through it
            dbapi_conn.isolation_level = None  # SQLAlchemy's BEGIN below owns the transaction
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={self.busy_ms}")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA wal_autocheckpoint={int(self.wal_autocheckpoint)}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # pragma: no cover
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock now: no lock upgrade failure

        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        self._share()
        return engine

    def _make_directory(self, directory: Path) -> None:
        if not directory.exists():
            directory.mkdir(parents=True, exist_ok=True)  # a second copy of the section may start at once
            # setgid: files created inside (the -wal and -shm files) take the directory's group
            os.chmod(directory, 0o2775)
        self._group_writable(directory, 0o070 | stat.S_ISGID)

    def _share(self) -> None:
        """Group read/write on the file and on SQLite's companions, group ownership when configured."""
        self._group_writable(self.path.parent, 0o070 | stat.S_ISGID)
        for path in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            if path.exists():
                self._group_writable(path, 0o060)

    def _group_writable(self, path: Path, bits: int) -> None:
        st = path.stat()
        if self.group:
            gid = grp.getgrnam(self.group).gr_gid
            if st.st_gid != gid:
                os.chown(path, -1, gid)
        if st.st_mode & bits != bits:
            try:
                os.chmod(path, stat.S_IMODE(st.st_mode) | bits)
            except PermissionError:  # not ours: the operator set it up; SQLite will say if it cannot write
                pass

    # --- layout -----------------------------------------------------------------------------------
    def declare(self, name: str, columns: dict[str, sa.types.TypeEngine]) -> sa.Table:
        table = series_table(self.md, name, columns)
        self.tables[name] = table
        cols = ", ".join(f'"{c.name}"' for c in table.c)
        self._insert_sql[name] = f'INSERT INTO "{name}" ({cols}) VALUES ({", ".join("?" * len(table.c))})'
        return table

    def create(self, names: Iterable[str] | None = None) -> None:
        """The bookkeeping tables and the given (default: every declared) series tables, if missing."""
        wanted = [self.position, *self.metrics.values()]
        wanted += [self.tables[n] for n in (self.tables if names is None else names)]
        with self.engine.begin() as conn:
            for table in wanted:
                table.create(conn, checkfirst=True)
        self._share()

    def existing_tables(self) -> set[str]:
        with self.engine.connect() as conn:
            return {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}

    # --- bookmarks --------------------------------------------------------------------------------
    def positions(self, names: Sequence[str]) -> dict[str, tuple[datetime, int, int, int | None]]:
        """(date_time, id, entries, max_id) of the last bridged entry of each table that has one."""
        p = self.position.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(p.tablename, p.date_time, p.id, p.entries, p.max_id)
                                .where(p.tablename.in_(list(names)))).all()
        return {name: (datetime.fromisoformat(t), i, n, m) for name, t, i, n, m in rows}

    def rewind(self, name: str, key: tuple[datetime, int] | None, after_unix: float) -> int:
        """Set the bookmark of `name` back to `key` (None: bridged from timefloor again) and delete its
        points dated after `after_unix`, in ONE transaction; returns the points deleted. For a bookmark
        ahead of the clock (bridge/mode.py): the points were copies of entries still in the source,
        bridged again in their place once the clock reaches them, so nothing is lost."""
        with self.engine.begin() as conn:
            gone = conn.exec_driver_sql(f'DELETE FROM "{name}" WHERE time > ?', (after_unix,)).rowcount
            if key is None:
                conn.exec_driver_sql(f"DELETE FROM {POSITION} WHERE tablename = ?", (name,))
            else:
                conn.exec_driver_sql(f"UPDATE {POSITION} SET date_time = ?, id = ? WHERE tablename = ?",
                                     (key_text(key[0]), key[1], name))
        return gone

    # --- one round --------------------------------------------------------------------------------
    def write_round(self, section: str, batches: Sequence[Batch], metrics: dict[str, tuple[float, float]]) -> None:
        """Rows, bookmarks and metrics in ONE transaction: a round is whole or absent."""
        upsert = (f'INSERT INTO {POSITION} (tablename, section, date_time, id, entries, max_id) '
                  'VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(tablename) DO UPDATE SET date_time = excluded.date_time, '
                  f'id = excluded.id, entries = {POSITION}.entries + excluded.entries, '
                  'section = excluded.section, max_id = excluded.max_id')
        with self.engine.begin() as conn:
            for batch in batches:
                if batch.rows:
                    conn.exec_driver_sql(self._insert_sql[batch.table], batch.rows)
                conn.exec_driver_sql(upsert, (batch.table, section, key_text(batch.last_key[0]),
                                              batch.last_key[1], batch.entries, batch.max_id))
            for name, (when, value) in metrics.items():
                conn.exec_driver_sql(f"INSERT INTO {name} (time, section, value) VALUES (?, ?, ?)",
                                     (when, section, value))
        self.trim_wal()

    def trim_wal(self) -> bool:
        """Checkpoint the whole -wal file into the main file and truncate it, once it has grown past
        twice what `wal_autocheckpoint` lets it reach; True when done.

        A Grafana reader holding a read transaction (a long dashboard query, a stuck client) keeps the
        automatic checkpoints from going past its snapshot, so the -wal file grows while it reads; and
        those checkpoints never shrink the file afterwards: it keeps its largest size for ever. The
        TRUNCATE checkpoint does, but it must wait for every reader to let go: it is asked without
        waiting (busy timeout 0) and simply tried again after the next round while readers hold on."""
        if not self.wal_autocheckpoint:
            return False  # checkpoints are the operator's (docs/config.md, wal_autocheckpoint)
        try:
            size = os.stat(f"{self.path}-wal").st_size
        except FileNotFoundError:
            return False
        if size <= 2 * self.wal_autocheckpoint * WAL_PAGE_BYTES:
            return False
        raw = self.engine.raw_connection()  # outside any transaction: a checkpoint cannot run inside one
        try:
            cur = raw.cursor()
            cur.execute("PRAGMA busy_timeout=0")
            try:
                busy = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.OperationalError:  # locked by another writer: the round is committed, try next time
                busy = 1
            finally:
                cur.execute(f"PRAGMA busy_timeout={self.busy_ms}")
                cur.close()
        finally:
            raw.close()
        return not busy

    def newest_time(self, names: Sequence[str]) -> float | None:
        """The newest bridged `time` over the given tables (the index makes each a lookup)."""
        newest = None
        with self.engine.connect() as conn:
            for name in names:
                t = conn.exec_driver_sql(f'SELECT max(time) FROM "{name}"').scalar()
                if t is not None and (newest is None or t > newest):
                    newest = t
        return newest

    def close(self) -> None:
        self.engine.dispose()


def read_only_engine(path: Path, busy_timeout: float = 60.0) -> Engine:
    """For looking without writing (schema checks, backups): never sets WAL or creates anything."""
    return sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", connect_args={"timeout": busy_timeout})


def column_types(engine: Engine, table: str) -> dict[str, str] | None:
    """{column: declared type} of a table of the file, None when the table does not exist."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f'PRAGMA table_info("{table}")').all()
    return {r[1]: (r[2] or "").upper() for r in rows} if rows else None


def sqlite_type(typ: Any) -> str:
    """The declared type SQLAlchemy writes for a column type in SQLite DDL (what PRAGMA table_info shows)."""
    from sqlalchemy.dialects import sqlite

    t = typ() if isinstance(typ, type) else typ
    return t.compile(dialect=sqlite.dialect()).upper()
