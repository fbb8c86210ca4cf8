"""mode = faker: write fake entries into a regime's source tables (docs/fakers.md).

All tables of a regime advance in lockstep (same id, same date_time), as DCS writes an HV table and its
power table together. Ids are given in commit order, like an AUTO_INCREMENT column, so a late entry
(older date_time) gets a higher id than the newer entries already present. Without `faker_dropsrc` the
faker continues after the newest entry present, so a faker can be stopped and restarted like a real DCS.
"""
from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from scraper import db
from scraper.db import dialects
from scraper.config import Settings
from scraper.config.keys import Key
from scraper.runtime.runner import Runner, RunOptions
from scraper.config.plugins import load_regime
from scraper.api import Faker

from . import ddl
from .profiles import Profile, make_profile
from .realism import DUPLICATE, LATE, Plan, Planned, Realism

log = logging.getLogger("scraper.faker")
CHUNK = 2000  # rows per transaction when writing as fast as possible
QUALITY = "Quality"


@dataclass
class FakerSummary:
    section: str
    written: int = 0
    first: datetime | None = None
    last: datetime | None = None
    events: dict[str, int] = field(default_factory=lambda: {"duplicate": 0, "late": 0, "gap": 0, "Quality=0": 0})

    def text(self) -> str:
        span = f"{self.first} .. {self.last} (source-local)" if self.first else "nothing"
        extra = ", ".join(f"{k} {v}" for k, v in self.events.items() if v)
        return (f"[{self.section}] fake entries written {self.written} per table, covering {span}"
                + (f"; realism: {extra}" if extra else ""))


KEYS = [
    Key("faker_timestart", "time", datetime(2011, 2, 1), "date_time of the first fake entry (source-local)"),
    Key("faker_dropsrc", "boolean", False, "faker: drop and recreate the fake source tables first"),
    Key("profile", "text", "modulo_ramp", "faker value profile: modulo_ramp, constant, step, random_walk, sine"),
    Key("faker_ddl", "text", "", "faker: no-data mysqldump file whose CREATE TABLEs make the fake source (MariaDB)"),
    Key("profile_seed", "integer(min=0)", 1, "faker: seed of random_walk and of the realism options"),
    Key("step_every", "positive_duration", timedelta(hours=1), "profile step: DB time between two steps"),
    Key("step_size", "finite", 1.0, "profile step: size of each step"),
    Key("walk_step", "finite", 0.1, "profile random_walk: standard deviation of one step per entry"),
    Key("sine_period", "positive_duration", timedelta(days=1), "profile sine: period of the swing"),
    Key("sine_amplitude", "finite", 2.0, "profile sine: amplitude of the swing"),
    Key("faker_duplicates", "probability", 0.0, "faker: probability that an entry is re-inserted (same date_time)"),
    Key("faker_gaps", "probability", 0.0, "faker: probability that the source falls silent after an entry"),
    Key("faker_gap", "positive_duration", timedelta(minutes=10), "faker: how long (DB time) a gap lasts"),
    Key("faker_badquality", "probability", 0.0, "faker: probability of Quality = 0 (tables with a Quality column)"),
    Key("faker_late", "probability", 0.0, "faker: probability that an entry is committed late (behind newer ones)"),
    Key("faker_late_by", "integer(min=1)", 5, "faker: a late entry is committed after this many newer entries"),
]
USES = ("interval", "sleep", "maxiter")


def run(cfg: Settings, options: RunOptions) -> FakerSummary:
    """Write fake entries into the regime's source tables (the section's `source`), on the runner:
    stop, outage retries (a source that goes down is waited for) and the loop come from there."""
    regime = load_regime(cfg, need_target=False)  # a faker writes sources only
    if hasattr(regime, "fake_file"):  # a logger regime: its source is a folder of result files
        from .result_files import run as write_files

        return write_files(cfg, options, regime)
    faker = regime.faker(cfg)
    if not faker.tables:
        raise cfg.error("regime", f"{cfg.regime} has a Faker without fake source tables")
    runner = Runner(cfg, options)
    engine = db.connect(cfg, "source", writer=True, create=True, retry=runner.startup)  # may start first
    try:
        tables = runner.startup("source", prepare_tables, engine, cfg, list(faker.tables))
        job = FakerJob(cfg, runner, _Writer(engine, tables, faker, make_profile(cfg)))
        return runner.run(job)
    finally:
        engine.dispose()


def run_faker(cfg: Settings, stop: threading.Event | None = None) -> FakerSummary:
    """The faker mode in-process (tests, demos): `run` with only a stop event."""
    return run(cfg, RunOptions(stop=stop))


class FakerJob:
    """The faker's Job (scraper/runtime/runner.py): each step writes one entry, or a chunk of CHUNK
    entries when `sleep = 0`; `maxiter` entries in all (0: until stopped)."""

    def __init__(self, cfg: Settings, runner: Runner, writer: "_Writer"):
        self.cfg, self.runner, self.writer = cfg, runner, writer
        self.plan, self.realism, self.next_id = runner.retry("source", writer.plan, cfg)
        self.summary = FakerSummary(cfg.section)
        writer.count_into(self.summary)
        self.fast = cfg.sleep.total_seconds() == 0
        self._entries = iter(self.plan)

    def _budget_left(self) -> bool:
        return self.cfg.maxiter == 0 or self.summary.written + self.writer.queued < self.cfg.maxiter

    def step(self) -> bool:
        for _ in range(CHUNK if self.fast else 1):
            if not self._budget_left():
                break
            self._add(next(self._entries))
        self.runner.retry("source", self.writer.flush, recovered=self.writer.committed)
        if not self.fast:
            self.runner.wait(self.cfg.sleep.total_seconds())
        return True

    def _add(self, entry: Planned) -> None:
        self.next_id = self.writer.add(entry, self.next_id, self.realism, self.summary)

    def done(self) -> bool:
        return not self._budget_left()

    def flush(self) -> None:
        self.runner.retry("source", self.writer.flush, recovered=self.writer.committed)

    def finish(self) -> None:
        for entry in self.plan.drain():  # commit held-back entries late rather than lose them
            self._add(entry)
        self.runner.retry("source", self.writer.flush, recovered=self.writer.committed)
        self.summary.events["gap"] = self.plan.gaps

    def idle(self) -> float:
        return 0.0

    def gauges(self) -> dict[str, float | None]:
        return {}

    def totals(self) -> dict[str, float]:
        return {"written": self.summary.written}


def prepare_tables(engine: sa.Engine, cfg: Settings, declared: list[sa.Table]) -> list[sa.Table]:
    """Create (or with faker_dropsrc, drop and recreate) the fake source tables, from the regime's
    declared schema or from the `faker_ddl` mysqldump file; returns the tables to write into."""
    if not cfg.faker_ddl:
        metadata = declared[0].metadata
        with engine.begin() as conn:
            if cfg.faker_dropsrc:
                metadata.drop_all(conn, tables=declared, checkfirst=True)
            metadata.create_all(conn, tables=declared, checkfirst=True)
        return declared
    if db.is_sqlite(engine):
        raise cfg.error("faker_ddl", "a mysqldump file needs a MariaDB/MySQL source, not SQLite")
    path = Path(cfg.faker_ddl)
    path = path if path.is_absolute() else cfg.base_dir / path
    if not path.is_file():
        raise cfg.error("faker_ddl", f"file {path} not found")
    names = [t.name for t in declared]
    try:
        ddl.apply(engine, path, names, drop=cfg.faker_dropsrc)
    except LookupError as exc:
        raise cfg.error("faker_ddl", str(exc)) from None
    except sa.exc.DBAPIError as exc:
        raise cfg.error("faker_ddl", f"{path}: {str(exc.orig).splitlines()[0]}") from None
    reflected = sa.MetaData()
    tables = [sa.Table(name, reflected, autoload_with=engine) for name in names]
    for table in tables:
        missing = [c for c in ("id", "date_time") if c not in table.c]
        if missing:
            raise cfg.error("faker_ddl", f'{path}: table "{table.name}" has no column {", ".join(missing)}')
    return tables


class _Writer:
    """Turns planned entries into rows of every table and commits them (per entry, or in chunks)."""

    def __init__(self, engine: sa.Engine, tables: list[sa.Table], faker: Faker, profile: Profile):
        self.engine, self.tables, self.faker, self.profile = engine, tables, faker, profile
        self.pending: list[list[dict[str, Any]]] = [[] for _ in tables]
        self.previous: list[list[dict[str, Any]]] | None = None
        self._times: list[datetime] = []  # date_time of each entry pending: counted once committed
        self._summary: FakerSummary | None = None

    def count_into(self, summary: FakerSummary) -> None:
        """Entries are counted in `summary` when their transaction has committed, never before: a run
        stopped during an outage (a full disk) claims only what the source holds."""
        self._summary = summary

    @property
    def queued(self) -> int:
        return len(self._times)

    def _committed(self) -> None:
        for rows in self.pending:
            rows.clear()
        times, self._times = self._times, []
        summary = self._summary
        if summary is None or not times:
            return
        summary.written += len(times)
        summary.first = min(summary.first or times[0], *times)
        summary.last = max(summary.last or times[0], *times)

    def plan(self, cfg: Settings) -> tuple[Plan, Realism, int]:
        realism = Realism.from_cfg(cfg)
        next_id, start = self._start(cfg)
        return Plan(start, cfg.interval, realism, random.Random(cfg.profile_seed)), realism, next_id

    def _start(self, cfg: Settings) -> tuple[int, datetime]:
        """Continue after the newest entry present, or begin at faker_timestart with id 1."""
        with self.engine.connect() as conn:
            top_id = max((conn.execute(sa.select(sa.func.max(t.c.id))).scalar() or 0) for t in self.tables)
            times = [conn.execute(sa.select(sa.func.max(t.c[self.faker.time_column]))).scalar() for t in self.tables]
        times = [t for t in times if t is not None]
        return top_id + 1, (max(times) + cfg.interval) if times else cfg.faker_timestart

    def add(self, entry: Planned, id: int, realism: Realism, summary: FakerSummary) -> int:
        """Queue one entry's rows (one per table, or several where a table interleaves series, as a
        monitor writing one row per instrument does); returns the next free id."""
        if entry.kind == DUPLICATE and self.previous is not None:  # a DCS re-insert: same reading again
            rows = [[{**row, "id": id + k} for k, row in enumerate(prev)] for prev in self.previous]
        else:
            rows = [self.faker.rows(table, id, entry.dt, self.profile) for table in self.tables]
        if realism.bad_quality > 0 and any(QUALITY in t.c for t in self.tables):
            for table, many in zip(self.tables, rows):
                if QUALITY in table.c:
                    for row in many:
                        row[QUALITY] = 0 if entry.bad else 1
            summary.events["Quality=0"] += entry.bad
        for pending, many in zip(self.pending, rows):
            pending.extend(many)
        if entry.kind != LATE:
            self.previous = rows
        if entry.kind in (DUPLICATE, LATE):
            summary.events[entry.kind] += 1
        self._times.append(entry.dt)
        return id + max(len(many) for many in rows)

    def flush(self) -> None:
        """One transaction for what is pending; the rows are forgotten only once it is committed, so
        an outage in the middle loses nothing (the runner retries, asking committed() first)."""
        if not self.pending[0]:
            return
        with self.engine.begin() as conn:
            for table, rows in zip(self.tables, self.pending):
                conn.execute(table.insert(), rows)
                dialects.impl(self.engine).ids_given(conn, table)
        self._committed()

    def committed(self) -> bool:
        """After a lost connection: did the last flush's COMMIT land? Then it must not be redone
        (the same ids twice); its rows are forgotten as if it had returned."""
        if not self.pending[0]:
            return True
        table, last_id = self.tables[0], self.pending[0][-1]["id"]
        with self.engine.connect() as conn:
            present = conn.execute(sa.select(table.c.id).where(table.c.id == last_id)).first() is not None
        if present:
            self._committed()
        return present
