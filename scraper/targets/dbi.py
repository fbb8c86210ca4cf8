"""DBI-style target tables: payload `<kls>`, validity `<kls>Vld` and the shared `LOCALSEQNO`.

Each propagation is ONE transaction: SEQNO allocation, the validity record and all payload rows, so a
crash leaves either the whole propagation or none of it — which is what makes the target a safe bookmark.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Collection, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from scraper.core import wallclock
from scraper.db import DateTime, dialects
from scraper.db.kinds import TargetFit
from scraper.db.prepared import Binder

AGGREGATENO = -1


@dataclass(frozen=True)
class Context:
    """Which chain of validity records a source owns inside one target table."""

    sitemask: int
    subsite: int
    simmask: int = 1
    task: int = 0


@dataclass(frozen=True)
class Validity:
    seqno: int
    timestart: datetime
    timeend: datetime


@dataclass(frozen=True)
class Written(Validity):
    """A validity record and when it was written (INSERTDATE, UTC)."""

    insertdate: datetime


def utcnow() -> datetime:
    """Now, naive UTC to the second: INSERTDATE. The wall clock every bound on the data reads
    (core/wallclock.py), so that when a record was written compares with the bins it closed."""
    return wallclock.now_utc().replace(microsecond=0)


def covered(v: sa.FromClause, w: sa.FromClause) -> sa.ColumnElement[bool]:
    """SQL true where a newer record (higher SEQNO) of v's context holds v's TIMESTART (`w`: another
    alias of the same validity table). A record holding no time (TIMESTART = TIMEEND) that is covered
    was closed at its start when that newer one replaced it (a record ahead of the clock, a bin an
    older averager closed early; docs/operations.md): it is no longer part of the history. One rule
    for every reader of that history: the averager's repair (written_soon) and Grafana's time view
    (timeview.py); a plot applies it in Python (look/plot.py: live)."""
    return sa.exists().where(w.c.SITEMASK == v.c.SITEMASK, w.c.SUBSITE == v.c.SUBSITE, w.c.SIMMASK == v.c.SIMMASK,
                             w.c.TASK == v.c.TASK, w.c.SEQNO > v.c.SEQNO, w.c.TIMESTART <= v.c.TIMESTART,
                             w.c.TIMEEND >= v.c.TIMESTART)


class DbiTables:
    """The three tables of one `kls`, declared in Python so they can be created on demand."""

    def __init__(self, kls: str, columns: dict[str, sa.types.TypeEngine]):
        self.kls = kls
        self.columns = columns
        md = sa.MetaData()
        self.payload = sa.Table(
            kls, md,
            sa.Column("SEQNO", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("ROW_COUNTER", sa.Integer, primary_key=True, autoincrement=False),
            *(sa.Column(name, typ, nullable=True) for name, typ in columns.items()),
        )
        self.vld = sa.Table(
            f"{kls}Vld", md,
            sa.Column("SEQNO", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("TIMESTART", DateTime, nullable=False),
            sa.Column("TIMEEND", DateTime, nullable=False),
            sa.Column("SITEMASK", sa.SmallInteger),
            sa.Column("SIMMASK", sa.SmallInteger),
            sa.Column("SUBSITE", sa.Integer),
            sa.Column("TASK", sa.Integer),
            sa.Column("AGGREGATENO", sa.Integer),
            sa.Column("VERSIONDATE", DateTime, nullable=False),
            sa.Column("INSERTDATE", DateTime, nullable=False),
            sa.Index(f"{kls}Vld_context_end", "SITEMASK", "SUBSITE", "TIMEEND"),
        )
        self.localseqno = sa.Table(
            "LOCALSEQNO", md,
            sa.Column("TABLENAME", sa.String(64), primary_key=True),
            sa.Column("LASTUSEDSEQNO", sa.Integer, nullable=False),
        )
        self.metadata = md

    @property
    def names(self) -> list[str]:
        return [self.payload.name, self.vld.name]


class DbiWriter:
    def __init__(self, engine: Engine, tables: DbiTables):
        self.engine, self.t = engine, tables
        # built once: a propagation is written per changed entry, so statement construction counts
        ls = tables.localseqno
        self._bump = (ls.update().where(ls.c.TABLENAME == sa.bindparam("kls"))
                      .values(LASTUSEDSEQNO=ls.c.LASTUSEDSEQNO + sa.bindparam("n", type_=sa.Integer)))
        self._lastused = sa.select(ls.c.LASTUSEDSEQNO).where(ls.c.TABLENAME == sa.bindparam("kls"))
        self._insert_vld = _Insert(engine, tables.vld)
        self._insert_payload = _Insert(engine, tables.payload)
        self.fit = TargetFit(tables.kls, list(tables.payload.columns), engine.dialect.name)

    # --- schema -----------------------------------------------------------------------------------
    def missing(self) -> list[str]:
        insp = sa.inspect(self.engine)
        return [name for name in (*self.t.names, "LOCALSEQNO") if not insp.has_table(name)]

    def missing_columns(self) -> list[str]:
        have = {c["name"] for c in sa.inspect(self.engine).get_columns(self.t.kls)}
        return [c.name for c in self.t.payload.columns if c.name not in have]

    def drop(self) -> None:
        """Drop payload + Vld and forget their SEQNO (LOCALSEQNO is shared with other tables)."""
        with self.engine.begin() as conn:
            self.t.payload.drop(conn, checkfirst=True)
            self.t.vld.drop(conn, checkfirst=True)
            if sa.inspect(conn).has_table("LOCALSEQNO"):
                conn.execute(self.t.localseqno.delete().where(self.t.localseqno.c.TABLENAME == self.t.kls))

    def create(self) -> None:
        """Create whichever of the tables is missing. Safe when several scrapers start on one empty
        target at once: MariaDB commits DDL at once, so between our existence check and our CREATE
        another process may have created the table — that is success, not an error. PostgreSQL reports
        the same race as a unique violation in its catalog (pg_type), raised once the other commits."""
        for table in self.t.metadata.sorted_tables:
            try:
                with self.engine.begin() as conn:
                    table.create(conn, checkfirst=True)
            except (OperationalError, ProgrammingError, IntegrityError):
                if not sa.inspect(self.engine).has_table(table.name):
                    raise
        self._insert_ignore({"TABLENAME": "*", "LASTUSEDSEQNO": 0})

    def prepare(self) -> None:
        """Make sure LOCALSEQNO has this table's row, starting above any SEQNO already present."""
        with self.engine.connect() as conn:
            top = conn.execute(sa.select(sa.func.max(self.t.vld.c.SEQNO))).scalar() or 0
        self._insert_ignore({"TABLENAME": self.t.kls, "LASTUSEDSEQNO": top})

    def _insert_ignore(self, row: dict[str, Any]) -> None:
        ls = self.t.localseqno
        try:
            with self.engine.begin() as conn:
                present = conn.execute(sa.select(ls.c.TABLENAME).where(ls.c.TABLENAME == row["TABLENAME"])).first()
                if present is None:
                    conn.execute(ls.insert(), row)
        except IntegrityError:
            pass  # a concurrent writer inserted it first: that is all we wanted

    # --- reading ----------------------------------------------------------------------------------
    def last_validity(self, ctx: Context, floor: datetime | None = None,
                      ceiling: datetime | None = None) -> Validity | None:
        """The record a resume starts after; `ceiling`: records ending later (ahead of the wall clock,
        see close_ahead) are not it."""
        v = self.t.vld.c
        stmt = (sa.select(v.SEQNO, v.TIMESTART, v.TIMEEND)
                .where(v.SITEMASK == ctx.sitemask, v.SUBSITE == ctx.subsite,
                       v.SIMMASK == ctx.simmask, v.TASK == ctx.task)
                .order_by(v.TIMEEND.desc(), v.SEQNO.desc()).limit(1))
        if floor is not None:
            stmt = stmt.where(v.TIMEEND >= floor)
        if ceiling is not None:
            stmt = stmt.where(v.TIMEEND <= ceiling)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return Validity(*row) if row else None

    def recent_validities(self, ctx: Context, limit: int, ceiling: datetime | None = None) -> list[Validity]:
        """The newest `limit` validity records of one context (ending by `ceiling`), newest first: what a
        resume replays from when the last record alone does not pin the source entry down."""
        v = self.t.vld.c
        stmt = (sa.select(v.SEQNO, v.TIMESTART, v.TIMEEND)
                .where(v.SITEMASK == ctx.sitemask, v.SUBSITE == ctx.subsite,
                       v.SIMMASK == ctx.simmask, v.TASK == ctx.task)
                .order_by(v.TIMEEND.desc(), v.SEQNO.desc()).limit(limit))
        if ceiling is not None:
            stmt = stmt.where(v.TIMEEND <= ceiling)
        with self.engine.connect() as conn:
            return [Validity(*row) for row in conn.execute(stmt)]

    def written_soon(self, ctx: Context, seconds: int, ceiling: datetime, floor: datetime) -> list[Written]:
        """Records of one context ending in [floor, ceiling], written (INSERTDATE) less than `seconds`
        after their TIMESTART (whole seconds), that no newer record covers (one with a higher SEQNO
        whose range holds their TIMESTART: a record written in their place), oldest first."""
        v = self.t.vld.c
        epoch = dialects.impl(self.engine.dialect.name).epoch_seconds
        mine = (v.SITEMASK == ctx.sitemask, v.SUBSITE == ctx.subsite, v.SIMMASK == ctx.simmask, v.TASK == ctx.task)
        stmt = (sa.select(v.SEQNO, v.TIMESTART, v.TIMEEND, v.INSERTDATE)
                .where(*mine, v.TIMEEND <= ceiling, v.TIMEEND >= floor,
                       epoch(v.INSERTDATE) < epoch(v.TIMESTART) + sa.literal(int(seconds), sa.Integer),
                       ~covered(self.t.vld, self.t.vld.alias("w")))
                .order_by(v.TIMESTART, v.SEQNO))
        with self.engine.connect() as conn:
            return [Written(*row) for row in conn.execute(stmt)]

    def close_ahead(self, ctx: Context, ceiling: datetime) -> list[Validity]:
        """Records of one context ending after `ceiling` (UTC: now + future_tolerance), as they were
        before this call, after which each ends where it starts. A version without the wall-clock
        bound read an entry dated in the future and wrote a record up to it: as a bookmark it would
        hold every later entry back until that date. Closed at its start, it claims no time it cannot
        know, yet its row and payload stay (nothing is deleted); the next record starts there, and a
        record wholly ahead is rewritten in its place once the clock gets there."""
        v = self.t.vld
        where = (v.c.SITEMASK == ctx.sitemask, v.c.SUBSITE == ctx.subsite, v.c.SIMMASK == ctx.simmask,
                 v.c.TASK == ctx.task, v.c.TIMEEND > ceiling)
        with self.engine.begin() as conn:
            found = [Validity(*r) for r in conn.execute(sa.select(v.c.SEQNO, v.c.TIMESTART, v.c.TIMEEND)
                                                        .where(*where).order_by(v.c.SEQNO))]
            if found:
                conn.execute(v.update().where(*where).values(TIMEEND=v.c.TIMESTART))
        return found

    # --- writing ----------------------------------------------------------------------------------
    def write(self, ctx: Context, timestart: datetime, timeend: datetime, rows: Iterable[dict[str, Any]]) -> int:
        """One validity record + its payload rows in one transaction; returns the SEQNO used."""
        return self.write_many([(ctx, timestart, timeend, list(rows))])[0]

    def write_many(self, records: list[tuple[Context, datetime, datetime, list[dict[str, Any]]]],
                   supersede: Collection[int] = ()) -> list[int]:
        """Validity records (each with its context and payload rows) in ONE transaction with four
        statements: one LOCALSEQNO bump for the whole block, its read-back, then executemany of the Vld
        rows and of the payload. `supersede`: SEQNOs of records these replace, closed at their start in
        the same transaction (their rows and payload kept), so the old record stops claiming its range
        exactly when the new one starts to: never both, never neither. The averager writes a territory
        chunk this way, a catch-up a group of propagations: whole or absent, and ~100x fewer round trips
        than one transaction per record. The bump (an UPDATE) takes the row lock (InnoDB) / the write
        lock (SQLite BEGIN IMMEDIATE) first, so two writers can never read the same LASTUSEDSEQNO."""
        if not records:
            return []
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(self._bump, {"kls": self.t.kls, "n": len(records)})
            last = conn.execute(self._lastused, {"kls": self.t.kls}).scalar_one()
            seqnos = list(range(last - len(records) + 1, last + 1))
            vld, payload = [], []
            for seqno, (ctx, timestart, timeend, rows) in zip(seqnos, records):
                vld.append({"SEQNO": seqno, "TIMESTART": timestart, "TIMEEND": timeend,
                            "SITEMASK": ctx.sitemask, "SIMMASK": ctx.simmask, "SUBSITE": ctx.subsite,
                            "TASK": ctx.task, "AGGREGATENO": AGGREGATENO, "VERSIONDATE": timestart,
                            "INSERTDATE": now})
                payload += [self.fit.row(self._payload_row(seqno, i, row), timestart) for i, row in enumerate(rows, 1)]
            self._insert_vld.many(conn, vld)
            if payload:
                self._insert_payload.many(conn, payload)
            if supersede:
                v = self.t.vld
                conn.execute(v.update().where(v.c.SEQNO.in_(sorted(supersede))).values(TIMEEND=v.c.TIMESTART))
        return seqnos

    def _payload_row(self, seqno: int, counter: int, row: dict[str, Any]) -> dict[str, Any]:
        unknown = set(row) - set(self.t.columns)
        if unknown:
            raise ValueError(f"propagate() yielded keys not declared in Target {self.t.kls}: {sorted(unknown)}")
        out = {name: row.get(name) for name in self.t.columns}
        out["ROW_COUNTER"], out["SEQNO"] = counter, seqno
        return out


class _Insert:
    """One table's INSERT, compiled once, its rows bound by a Binder and sent with one executemany on
    the transaction's own DBAPI cursor: the same SQL and the same bind processors as SQLAlchemy's
    executemany, without its per-row parameter handling (~20 us a row, two rows per propagation of a
    catch-up, bench/)."""

    def __init__(self, engine: Engine, table: sa.Table):
        stmt = table.insert().values({c.name: sa.bindparam(c.name, type_=c.type) for c in table.c})
        compiled = stmt.compile(dialect=engine.dialect)
        self.sql = str(compiled)
        self._binder = Binder(compiled, engine.dialect)

    def many(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        args = self._binder.args
        conn.exec_driver_sql(self.sql, [args(row) for row in rows])
