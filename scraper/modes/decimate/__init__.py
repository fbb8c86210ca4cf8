"""mode = decimator: retention in place for high-rate tables (full rate for `keep`, then one entry per
`every` slice and group), restart-safe because the cursor is a table advanced with the deletes.

`scr.py -s cbpm3_decimator` runs passes every `sleep` until stopped; `--catchup` runs one pass (thins
everything older than the horizon) and exits 0; `--dry-run` prints per group what a pass would keep
and delete and changes nothing. Unlike every other mode it writes into its `source`: thinning that
table is its job. See docs/retention.md.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from scraper import db
from scraper.api import Regime
from scraper.config import Settings
from scraper.config.keys import Key
from scraper.config.plugins import load_regime
from scraper.core.timezones import Clock
from scraper.core.wallclock import Bound
from scraper.runtime.runner import RunOptions, Runner

from scraper.sources.sql.future import FutureWatch

from .slices import Slicing, check_every, check_keep
from .tables import (CURSOR_TABLE, add_keep_column, check_rollup, cursor_table, read_cursor, rollup_table,
                     table_spec)
from .thinner import PassTotals, Thinner

log = logging.getLogger("scraper.decimator")

KEYS = [
    Key("keep", "positive_duration", timedelta(days=14),
        "decimator: the newest span of the table kept at full rate; older slices keep one entry per group"),
    Key("every", "positive_duration", timedelta(minutes=1),
        "decimator: width of a slice beyond keep (divides one day; slices aligned like the averager's bins)"),
    Key("keep_rule", "choice(first, last)", "first",
        "decimator: which entry of a slice and group survives, by (time, id): first or last"),
    Key("rollup", "text", "",
        "decimator: table receiving count and avg/min/max per slice and group of what is thinned; empty: none"),
    Key("group_column", "text", "", "decimator: group column; empty: the regime's Source(group=...), if any"),
]
USES = ("sleep", "batch", "maxiter", "lease_timeout", "timefloor")
PROGRESS_SLICES = 120  # a pass longer than this many slices shows progress (a first pass: days)


def _identifier(cfg: Settings, key: str) -> None:
    value = getattr(cfg, key)
    if value and (not value.replace("_", "a").isalnum() or value[0].isdigit()):
        raise cfg.error(key, f'"{value}" is not a table or column name (letters, digits and _)')


def validate(cfg: Settings, regime: type[Regime]) -> None:
    """Settings that cannot work, before any database is touched."""
    why = check_every(cfg.every)
    if why:
        raise cfg.error("every", why)
    why = check_keep(cfg.keep, cfg.every)
    if why:
        raise cfg.error("keep", why)
    _identifier(cfg, "rollup")
    _identifier(cfg, "group_column")
    if len(regime.sources) != 1:
        raise cfg.error("regime", f"{cfg.regime} has {len(regime.sources)} sources; a decimator thins one table")
    if regime.sources[0].joins:
        raise cfg.error("regime", f"{cfg.regime}: a decimator thins one table, not a join")


def status(cfg: Settings, st, now: datetime) -> None:
    """`scr.py status` for a decimator section: cursor, horizon and health, read from the database."""
    from .health import fill

    fill(cfg, st, now)


def run(cfg: Settings, options: RunOptions) -> "DecimatorSummary":
    decimator = Decimator(cfg, options)
    try:
        return decimator.run()
    finally:
        decimator.close()


@dataclass
class DecimatorSummary:
    section: str
    table: str
    totals: PassTotals
    dry_run: bool = False
    group: str | None = None
    future: FutureWatch | None = None  # entries dated ahead of the wall clock (not data yet)
    before_floor: int = 0  # entries before timefloor, zero dates, 1970 rows, NULL times: never thinned

    def text(self) -> str:
        t = self.totals
        when = (lambda d: f"{d:%Y-%m-%d %H:%M:%S} UTC" if d else "-")
        if self.dry_run:
            head = (f"[{self.section}] dry run, nothing changed: {self.table} would keep {t.kept} and delete "
                    f"{t.deleted} entries in {t.slices} slices up to the horizon {when(t.horizon)}"
                    + (f"; late entries {t.late}" if t.late else ""))
            name = self.group or "group"
            width = max([len(name)] + [len(str(g)) for g in t.per_group])
            lines = [head, f"  {name:<{width}}  {'kept':>10}  {'deleted':>10}"]
            for g in sorted(t.per_group, key=lambda v: (v is None, str(v))):
                tally = t.per_group[g]
                lines.append(f"  {str(g) if g is not None else '-':<{width}}  {tally.kept:>10}  {tally.deleted:>10}")
            return "\n".join(lines)
        ahead = self.future.count if self.future is not None else 0
        return (f"[{self.section}] {self.table}: entries deleted {t.deleted}, kept {t.kept} in {t.slices} slices, "
                f"late {t.late}, rollup rows {t.rollup_rows}; thinned until {when(t.cursor)}, "
                f"horizon {when(t.horizon)}" + (f"; entries ahead of the clock not read yet {ahead}" if ahead else "")
                + (f"; entries before timefloor ignored {self.before_floor}" if self.before_floor else ""))


def _epoch(d: datetime | None) -> float | None:
    return None if d is None else d.replace(tzinfo=timezone.utc).timestamp()


class Decimator:
    """The decimator's Job on the mode-neutral runner: each step thins one chunk (a pass is the run of
    steps from the cursor to the horizon), so stop, metrics and progress come between chunks."""

    def __init__(self, cfg: Settings, options: RunOptions):
        self.cfg, self.options, self.dry_run = cfg, options, options.dry_run
        self.runner = Runner(cfg, options)
        regime = load_regime(cfg, need_target=False)
        validate(cfg, regime)
        if options.drop:
            raise cfg.error("source", "--DROP_TARGET_TABLES: a decimator has no target tables (it thins its source)")
        self.source = regime.sources[0]
        self.reader = db.connect(cfg, "source", retry=self.runner.startup)  # waits for a database not up yet
        self.writer = db.connect(cfg, "source", writer=True, retry=self.runner.startup)
        self.spec = self.runner.startup("source", table_spec, self.reader, cfg, self.source)
        self.slicing = Slicing(Clock(cfg.source_tz), cfg.every, cfg.keep)
        self.rollup = self._rollup(options.allow_create)
        self._prepare_cursor()
        # after the checks above (a mistake is reported, not waited on), before the cursor is read
        self.runner.hold(self.writer, "source")  # thins in place: the lease lives beside the cursor
        try:
            self._after_hold(cfg)
        except BaseException:
            self.runner.release()  # a start-up that fails lets the section go at once, renewal thread and all
            raise

    def _after_hold(self, cfg: Settings) -> None:
        """What start-up does once the section is held (the lease is let go if any of it fails)."""
        if not self.dry_run:
            self.runner.record_metrics_in(self.writer)
        self.thinner = Thinner((self.reader, self.writer), self.spec, self.slicing, cfg.keep_rule, cfg.batch,
                               self.rollup, self.runner.retrier, self.dry_run, Bound.of(cfg), cfg.timefloor)
        self.summary = DecimatorSummary(cfg.section, self.spec.name, self.thinner.totals, self.dry_run,
                                        self.spec.group.name if self.spec.group is not None else None)
        # entries dated ahead of the wall clock: never thinned nor moving the horizon; counted, logged once
        self.future = FutureWatch(self.reader, self.spec.name, self.spec.time, self.spec.id, Bound.of(cfg),
                                  guard=self.runner.guard("source"))
        self.summary.future = self.future
        self._pass: tuple[datetime, datetime, int] | None = None  # (next chunk, horizon, watermark)
        self._passes_done = 0

    def _rollup(self, allow_create: bool) -> sa.Table | None:
        cfg = self.cfg
        if not cfg.rollup:
            return None
        table = rollup_table(cfg.rollup, self.spec)
        if self.runner.startup("source", check_rollup, self.reader, cfg, table):
            return table
        if self.dry_run:
            return table  # read only: a missing rollup table is simply empty
        if not allow_create:
            raise cfg.error("rollup", f'table "{cfg.rollup}" does not exist (first run? add --ALLOW_DROP_CREATE_TABLE)')
        self._create(table)
        log.info("created rollup table %s", cfg.rollup)
        return table

    def _create(self, table: sa.Table) -> None:
        """CREATE if missing. Two copies of the section start at once (they take the lease only after
        these checks): the other one creating it first is success. PostgreSQL reports that race as a
        unique violation in its catalog, MariaDB as 'table exists'."""
        try:
            with self.writer.begin() as conn:
                table.create(conn, checkfirst=True)
        except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError):
            if not db.table_exists(self.writer, table.name):
                raise

    def _prepare_cursor(self) -> None:
        """Our own bookkeeping table, created on demand; refuses settings that contradict its history."""
        cfg, table = self.cfg, cursor_table()
        if not self.dry_run:
            self.runner.startup("source", self._create, table)
            with self.writer.begin() as conn:  # a cursor table from before the keep was recorded
                self.runner.startup("source", add_keep_column, conn)
        if not db.table_exists(self.reader, CURSOR_TABLE):
            return
        with self.reader.connect() as conn:
            cur = read_cursor(conn, table, self.spec.name)
        if cur is None:
            return
        every_s = int(cfg.every.total_seconds())
        if cur.every_s != every_s:
            raise cfg.error("every", f"{self.spec.name} is thinned up to {cur.until:%Y-%m-%d %H:%M:%S} UTC with "
                                     f"every = {cur.every_s}s; thinning on with {every_s}s would mix slice widths")
        if cur.keep_rule != cfg.keep_rule:
            raise cfg.error("keep_rule", f"{self.spec.name} is thinned up to {cur.until:%Y-%m-%d %H:%M:%S} UTC "
                                         f"keeping the {cur.keep_rule} entry of each slice, not the {cfg.keep_rule}")

    # --- the Job ----------------------------------------------------------------------------------
    def step(self) -> bool:
        """One chunk of the current pass (starting a pass first); False when a pass has just ended
        or found nothing: the runner then sleeps `sleep` (or, with --catchup, ends the run)."""
        if self._pass is None:
            self.future.poll()
            self._unplaced()
            self._pass = self.thinner.begin_pass()
            if self._pass is None:
                self._passes_done += 1
                return False
            start, horizon, _ = self._pass
            if self.slicing.slices(start, horizon) > PROGRESS_SLICES:
                self.runner.catching_up(start, horizon, self.thinner.totals.deleted)
        a, horizon, top = self._pass
        b = self.thinner.next_chunk(a, horizon, top)
        self._pass = (b, horizon, top) if b < horizon else None
        if self._pass is None:
            self._passes_done += 1
        return True

    def _unplaced(self) -> None:
        """Count the entries no slice can place at each pass (index ranges: what those rows cost);
        logged when first seen and when more arrive, never thinned."""
        n = self.thinner.unplaced()
        if n > self.summary.before_floor:
            log.warning("%s: %d entries before timefloor %s (zero dates, 1970 rows) or without a time are "
                        "ignored: never thinned", self.spec.name, n, self.cfg.timefloor)
        self.summary.before_floor = n

    def position(self) -> datetime:
        return self._pass[0] if self._pass is not None else (self.thinner.totals.cursor or datetime(1970, 1, 1))

    def entries(self) -> int:
        return self.thinner.totals.deleted

    def flush(self) -> None:
        pass  # every chunk commits itself, with the cursor

    def idle(self) -> float:
        return self.cfg.sleep.total_seconds()

    def done(self) -> bool:
        if self._pass is not None:
            return False
        return (self.dry_run and self._passes_done >= 1) or bool(self.cfg.maxiter and self._passes_done >= self.cfg.maxiter)

    def gauges(self) -> dict[str, float | None]:
        t = self.thinner.totals
        return {"horizon": _epoch(t.horizon), "cursor": _epoch(t.cursor), "future": self.future.count,
                "before_floor": self.summary.before_floor}

    def totals(self) -> dict[str, float]:
        t = self.thinner.totals
        return {"deleted": t.deleted, "kept": t.kept, "late": t.late}

    def run(self) -> "DecimatorSummary":
        return self.runner.run(self, self.position, self.entries)

    def close(self) -> None:
        self.reader.dispose()
        self.writer.dispose()
