"""`scr.py migrate -s SECTION check|fix`: bring a bridged file up to the section's current layout.

A regime (or its source) grows: a new value column, a new source. The bridged file, made by the older
layout, then lacks a column or a table. `check` compares the file with the layout and lists each
difference; `fix` applies them in one transaction (ALTER TABLE ADD COLUMN: old rows read NULL, new
rows carry the value; CREATE TABLE: the new source is bridged from timefloor on the next start).
A difference no migration explains — a column or table the layout no longer has, a changed type, a
table without `time` — is refused with one line: dropping bridged data is the operator's decision.

The bridge itself refuses to write a file that needs a migration (exit 2), so an upgrade is:
stop the bridge (exit sentinel), back up, `migrate check`, `migrate fix`, start the new version; the
bookmarks are untouched, so the data has no gap.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from scraper import db
from scraper.config import Settings
from scraper.config.plugins import load_regime
from scraper.errors import OperatorError
from scraper.sources.sql.reader import SourceReader
from scraper.targets.timeseries import (METRICS, POSITION, column_types, metric_table, position_table,
                                        read_only_engine, series_table, sqlite_type)

from . import target
from .layout import Series, describe, layout


@dataclass
class Change:
    table: str
    what: str  # "add column" | "create table"
    column: str | None = None
    type: str | None = None
    series: Series | None = None
    forget: bool = False  # a bookmark of the missing table is left: drop it, so it is bridged from timefloor

    def line(self) -> str:
        if self.what == "add column":
            return f"{self.table}: add column {self.column} {self.type}"
        text = f"{self.table}: create table ({describe(self.series)})" if self.series else f"{self.table}: create table"
        return text + (", forget its bookmark (bridged again from timefloor)" if self.forget else "")


@dataclass
class Plan:
    path: Path
    section: str
    fresh: bool = False  # no table of this section in the file yet: the bridge creates them, no migration
    changes: list[Change] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    applied: bool = False
    fix_command: str = ""  # the `scr.py migrate ... fix` that acts on this file (Settings.command)

    @property
    def needed(self) -> bool:
        return bool(self.changes or self.refusals)

    def text(self) -> str:
        head = f"{self.path} [{self.section}]"
        if self.refusals:
            return "\n".join([f"{head}: cannot be migrated automatically:"] + [f"  {r}" for r in self.refusals])
        if self.fresh:
            return f"{head}: no bridged tables yet (the bridge creates them): nothing to migrate"
        if not self.changes:
            return f"{head}: up to date"
        lines = [f"{head}: {len(self.changes)} change(s) applied:" if self.applied else
                 f"{head}: {len(self.changes)} change(s) needed "
                 f"({self.fix_command or f'scr.py migrate -s {self.section} fix'}):"]
        return "\n".join(lines + [f"  {c.line()}" for c in self.changes])


def plan(path: Path, section: str, series: list[Series], busy_timeout: float = 60.0) -> Plan:
    """What differs between the file and the layout; reads the file only (read-only connection).
    `busy_timeout`: how long a lock held by another process is waited for before it is an error (a
    running section's start-up then waits it out as an outage)."""
    out = Plan(path, section)
    if not path.exists():
        out.fresh = True
        return out
    engine = read_only_engine(path, busy_timeout)
    try:
        tables = {s.table: column_types(engine, s.table) for s in series}
        bookkeeping = {name: column_types(engine, name) for name in (POSITION, *METRICS)}
        bridged: list[str] = []
        bookmarked: set[str] = set()
        if bookkeeping[POSITION] is not None:
            with engine.connect() as conn:
                rows = conn.exec_driver_sql(f"SELECT tablename, section FROM {POSITION}").all()
            bridged = [name for name, owner in rows if owner == section]
            bookmarked = {name for name, _owner in rows}
    finally:
        engine.dispose()
    if all(t is None for t in tables.values()) and not bridged:
        out.fresh = True
        return out
    names = {s.table for s in series}
    for gone in bridged:
        if gone not in names:
            out.refusals.append(f"{gone}: bridged by [{section}] but no source of the regime writes it any more "
                                "(drop or rename the table yourself if that is intended)")
    for s in series:
        have = tables[s.table]
        if have is None:
            out.changes.append(Change(s.table, "create table", series=s, forget=s.table in bookmarked))
            continue
        want = s.declared()
        if "time" not in have:
            out.refusals.append(f"{s.table}: has no time column: not a table made by the bridge")
            continue
        for col, typ in want.items():
            if col not in have:
                out.changes.append(Change(s.table, "add column", col, typ))
            elif have[col] != typ:
                out.refusals.append(f"{s.table}.{col}: is {have[col] or 'untyped'} in the file, the layout says {typ}")
        for col in have:
            if col not in want:
                out.refusals.append(f"{s.table}.{col}: in the file but not in the layout (a column removed or renamed?)")
    md = sa.MetaData()
    for name, have in bookkeeping.items():
        if have is None:
            out.changes.append(Change(name, "create table"))
            continue
        declared = position_table(md) if name == POSITION else metric_table(md, name)
        for col in declared.c:  # a file made before the bookkeeping grew a column (max_id)
            if col.name not in have:
                out.changes.append(Change(name, "add column", col.name, sqlite_type(col.type)))
    return out


def fix(path: Path, section: str, series: list[Series]) -> Plan:
    """Apply a plan in one transaction; a plan with refusals is not applied (the caller says why)."""
    todo = plan(path, section, series)
    if todo.refusals or todo.fresh or not todo.changes:
        return todo
    md = sa.MetaData()
    by_name = {s.table: s for s in series}
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 60})
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SELECT 1")
            for change in todo.changes:
                if change.what == "add column":
                    conn.exec_driver_sql(f'ALTER TABLE "{change.table}" ADD COLUMN "{change.column}" {change.type}')
                elif change.table == POSITION:
                    position_table(md).create(conn)
                elif change.table in METRICS:
                    metric_table(md, change.table).create(conn)
                else:
                    series_table(md, change.table, by_name[change.table].columns).create(conn)
                    if change.forget:
                        conn.exec_driver_sql(f"DELETE FROM {POSITION} WHERE tablename = ?", (change.table,))
    finally:
        engine.dispose()
    todo.applied = True
    return todo


def require_current(cfg: Settings, path: Path, series: list[Series]) -> bool:
    """Raise the one-line error when the file needs a migration; True when it is fresh for the section."""
    todo = plan(path, cfg.section, series, cfg.busy_timeout.total_seconds())
    if todo.refusals:
        raise cfg.error("target", f"{path}: {todo.refusals[0]}")
    if todo.changes:
        first = todo.changes[0].line()
        more = f" and {len(todo.changes) - 1} more" if len(todo.changes) > 1 else ""
        raise cfg.error("target", f"{path} needs a migration ({first}{more}): "
                                  f"run {cfg.command('migrate', 'check')}, then fix")
    return todo.fresh


def section_layout(cfg: Settings) -> list[Series]:
    """The layout of a section, from its regime and its source (reflected, read only)."""
    regime = load_regime(cfg)
    engine = db.connect(cfg, "source", readonly=True)
    try:
        return layout(regime, [SourceReader(engine, src, cfg, cfg.batch) for src in regime.sources])
    finally:
        engine.dispose()


def migrate(cfg: Settings, action: str) -> Plan:
    """check: the plan (nothing written); fix: the plan applied, or one line when it cannot be."""
    if action not in ("check", "fix"):
        raise OperatorError(f'scr.py migrate: "{action}" is not an action (use check or fix)')
    path = target.path(cfg)
    series = section_layout(cfg)
    if action == "check":
        todo = plan(path, cfg.section, series)
        todo.fix_command = cfg.command("migrate", "fix")
        return todo
    done = fix(path, cfg.section, series)
    if done.refusals:
        raise cfg.error("target", f"{path}: refusing to migrate: {done.refusals[0]}"
                        + (f" (and {len(done.refusals) - 1} more, see migrate check)" if len(done.refusals) > 1 else ""))
    return done
