"""mode = bridge: copy every source entry into a Grafana-ready SQLite file, in rounds.

A round reads, for every source, up to `batch` entries after that source's bookmark — the key
(date_time, id) of the last entry bridged, kept in the bridged file itself — in ONE keyset query each,
turns them into rows with `time` in UTC unix seconds, and commits rows, bookmarks and the round's
self-metrics in ONE transaction (targets/timeseries.py). Whatever stops the bridge — SIGTERM, the
exit sentinel, SIGKILL, a power cut — the next start reads the bookmarks and continues with the next
entry: no gap and no duplicate, entries sharing a date_time included (the id orders them).

Live, a round runs every `sleep`; a round that filled its batch for some source is followed at once
by the next (the bridge is behind). `--catchup` runs rounds back to back until every source is
exhausted, with a progress bar on a terminal, and exits 0.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from scraper import db
from scraper.db import timeforms
from scraper.config import Settings
from scraper.config.plugins import load_regime
from scraper.core.timezones import UnixClock
from scraper.runtime.runner import RunOptions, Runner
from scraper.sources.sql.reader import SourceReader
from scraper.targets.timeseries import Batch, TimeSeriesFile

from . import migrate, target
from .feed import Feed
from .layout import layout

log = logging.getLogger("scraper.bridge")
FUTURE_EVERY = 10.0  # seconds between two counts of the entries never or not yet bridged


@dataclass
class BridgeSummary:
    section: str
    path: str = ""
    entries: int = 0
    points: int = 0
    rounds: int = 0
    queries: int = 0
    caught_up: bool = False
    late: int = 0  # entries committed behind the bookmark, found by the watermark and bridged
    before_floor: int = 0  # entries before timefloor, 1970 rows, zero dates, NULL times: never bridged
    future: int = 0  # entries dated beyond now + future_tolerance: not data yet, bridged once their time comes
    wrong: int = 0  # values of the wrong kind in numeric columns (text, blobs, NaN, ±inf): bridged as NULL
    first: float | None = None
    last: float | None = None
    per_table: dict[str, int] = field(default_factory=dict)

    def cover(self, first: float, last: float) -> None:
        self.first = first if self.first is None else min(self.first, first)
        self.last = last if self.last is None else max(self.last, last)

    def text(self) -> str:
        def utc(t: float) -> str:
            return datetime.utcfromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")
        covered = f"{utc(self.first)} .. {utc(self.last)} UTC" if self.first is not None else "nothing new"
        rounds = f"{self.rounds} round" + ("" if self.rounds == 1 else "s")
        return (f"[{self.section}] entries bridged {self.entries}, points written {self.points} in "
                f"{rounds}, time covered {covered}, source queries {self.queries} -> {self.path}"
                + (f", late entries bridged {self.late}" if self.late else "")
                + (f", entries before timefloor ignored {self.before_floor}" if self.before_floor else "")
                + (f", entries ahead of the clock not read yet {self.future}" if self.future else "")
                + (f", values of the wrong kind read as NULL {self.wrong}" if self.wrong else ""))


class Bridge:
    """The bridge as a Job of the mode-neutral runner (scraper/runtime/runner.py): one round per step."""

    def __init__(self, cfg: Settings, runner: Runner):
        self.cfg, self.runner = cfg, runner
        self.path: Path = target.path(cfg)
        target.check(cfg, self.path)  # before any database is touched
        self.regime = load_regime(cfg)
        self.summary = BridgeSummary(cfg.section, str(self.path))
        self.source_engine = db.connect(cfg, "source", retry=runner.startup, readonly=True)  # waits for a database not up yet
        try:
            readers = [SourceReader(self.source_engine, src, cfg, cfg.batch) for src in self.regime.sources]
            for reader in readers:
                timeforms.require_space_text(reader.dt.type, cfg, reader.main, "the bridge")
            self.layout = layout(self.regime, readers)
            # read-only; exit 2 if not current. Both open the live file, which another process (a copy
            # of the section frozen while it held the lock) can keep locked past busy_timeout: an outage
            fresh = runner.startup("target", migrate.require_current, cfg, self.path, self.layout)
            self.file = runner.startup("target", TimeSeriesFile, self.path, wal_autocheckpoint=cfg.wal_autocheckpoint,
                                       busy_timeout=cfg.busy_timeout.total_seconds(), group=cfg.group or None)
        except BaseException:
            self.source_engine.dispose()
            raise
        for series in self.layout:
            self.file.declare(series.table, series.columns)
        runner.startup("target", self.file.create)
        runner.hold(self.file.engine)  # a second copy of the section waits here as a standby
        if fresh:
            log.info("created the tables of [%s] in %s", cfg.section, self.path)
        self._unix = UnixClock(cfg.source_tz).unix
        positions = self._repair_ahead(self.file.positions([s.table for s in self.layout]), readers)
        self.feeds = [Feed(s, r, self.source_engine, cfg, positions.get(s.table))
                      for s, r in zip(self.layout, readers)]
        for feed in self.feeds:
            where = f"after {feed.key[0]} id {feed.key[1]}" if feed.key else f"at timefloor {cfg.timefloor}"
            log.info("%s -> %s: resuming %s (source-local)", feed.series.source.label, feed.series.table, where)
        self.newest = self.file.newest_time([s.table for s in self.layout])
        for reader in readers:
            reader.guard = runner.guard("source")
        self.future = [r.future_watch() for r in readers]
        self._floor_counted = 0.0
        self._count_untrusted(force=True)
        runner.record_metrics_in(self.file.engine)  # scraper_metrics too, for `scr.py status` and Grafana

    def _repair_ahead(self, positions: dict, readers: list) -> dict:
        """A bookmark ahead of the wall clock, left by a version that bridged an entry dated in the
        future, would hold every later entry back until that date: it is set back to the newest entry
        that is data now, and the points after it are deleted (copies of source entries, bridged again
        in their place when their time comes), said once per table."""
        for series, reader in zip(self.layout, readers):
            pos = positions.get(series.table)
            bound = reader.bound()
            if pos is None or pos[0] <= bound:
                continue
            key = self.runner.startup("source", self._newest_key, reader, bound, pos[3])
            gone = self.runner.startup("target", self.file.rewind, series.table, key, self._unix(bound))
            log.warning("%s: the bookmark %s id %d is ahead of the clock (an entry dated in the future was "
                        "bridged by an older version): set back to %s, %d point(s) after it deleted, bridged "
                        "again in their place once the clock reaches them", series.table, pos[0], pos[1],
                        f"{key[0]} id {key[1]}" if key else "timefloor", gone)
        return self.file.positions([s.table for s in self.layout])

    def _newest_key(self, reader, bound: datetime, max_id: int | None) -> tuple[datetime, int] | None:
        """(date_time, id) of the last entry in key order that the older version bridged (id up to its
        watermark `max_id`) and is data now: entries committed since are then read as any new ones."""
        dt, id_ = reader.dt, reader.id
        seen = [id_ <= max_id] if max_id is not None else []
        with self.source_engine.connect() as conn:
            t = conn.execute(sa.select(sa.func.max(dt)).where(dt <= bound, dt >= self.cfg.timefloor, *seen)).scalar()
        if t is None:
            return None
        ids = [inst.id for inst in reader.entries_at([t], 100_000) if max_id is None or inst.id <= max_id]
        return (t, max(ids)) if ids else None

    # --- the Job protocol -------------------------------------------------------------------------
    def step(self) -> bool:
        """One round. True when some source filled its batch: more entries are waiting, so the runner
        runs the next round at once; False ends a --catchup run, or sleeps `sleep` when live. Hence a
        live round costs one statement per source."""
        behind = self.round()
        if not behind:
            self._count_untrusted()
        return behind

    def _count_untrusted(self, force: bool = False) -> None:
        """Entries the bridge never reads (before timefloor, without a time) or not yet (ahead of the
        clock): counted at start and then at most every FUTURE_EVERY seconds, each an index range."""
        self.summary.future = sum(w.poll(force) for w in self.future)
        if force or time.monotonic() - self._floor_counted >= FUTURE_EVERY:
            self._floor_counted = time.monotonic()
            before = sum(f.reader.count_before(self.cfg.timefloor) for f in self.feeds)
            if before > self.summary.before_floor:
                log.info("%d source entries before timefloor %s (or without a time) are ignored",
                         before, self.cfg.timefloor)
            self.summary.before_floor = before

    def flush(self) -> None:
        """Nothing is ever pending: each round commits itself."""

    def idle(self) -> float:
        return self.cfg.sleep.total_seconds()

    def done(self) -> bool:
        return bool(self.cfg.maxiter) and self.summary.rounds >= self.cfg.maxiter

    def gauges(self) -> dict[str, float | None]:
        # a bridged point dated up to future_tolerance ahead is not a negative lag
        return {"lag_s": None if self.newest is None else max(round(time.time() - self.newest, 3), 0.0),
                "future": self.summary.future}

    def totals(self) -> dict[str, float]:
        return {"entries_read": self.summary.entries, "points": self.summary.points,
                "queries": sum(f.queries for f in self.feeds), "late": self.summary.late}

    # --- one round --------------------------------------------------------------------------------
    def round(self) -> bool:
        t0 = time.perf_counter()
        batches, behind, newest = [], False, self.newest
        late_n, spans = 0, []  # counted in the summary once the round has committed
        for feed in self.feeds:
            got = self.runner.retry("source", feed.fetch)
            behind = behind or got.full
            if not got.rows and not got.late and got.top == feed.watermark:
                continue
            out, entries = feed.convert(got.rows)
            key = feed.last_key(got.rows) if got.rows else feed.key
            if got.late:
                late, _n = feed.convert(got.late)
                out += late
                entries += len(got.late)
                late_n += len(got.late)
                first, last = min(r[feed.at_dt] for r in got.late), max(r[feed.at_dt] for r in got.late)
                spans.append((self._unix(first), self._unix(last)))
                log.warning("%s: %d entries committed late behind the bookmark %s (date_time %s .. %s): "
                            "bridged with their own time; %d late so far", feed.series.source.label,
                            len(got.late), feed.key[0], first, last, self.summary.late + late_n)
            if key is None:  # nothing bridged yet, only the watermark moved (entries before timefloor)
                continue
            marks = [w for w in (got.top, feed.watermark) if w is not None]
            watermark = max(marks) if marks else None
            batches.append((feed, Batch(feed.series.table, out, key, entries, watermark)))
            if got.rows:
                t_first, t_last = self._unix(got.rows[0][feed.at_dt]), self._unix(key[0])
                newest = t_last if newest is None else max(newest, t_last)
                spans.append((t_first, t_last))
        took = time.perf_counter() - t0
        now = time.time()
        points = sum(len(b.rows) for _f, b in batches)
        when = round(now, 3)
        metrics = {"bridge_points": (when, float(points)), "bridge_bridgeLag": (when, round(took, 6)),
                   "bridge_totalLag": (when, None if newest is None else max(round(now - newest, 3), 0.0))}
        self.runner.retry("target", self.file.write_round, self.cfg.section, [b for _f, b in batches], metrics)
        for feed, batch in batches:  # committed: only now may the bookmarks move
            feed.key, feed.watermark = batch.last_key, batch.max_id
            self.summary.entries += batch.entries
            self.summary.per_table[batch.table] = self.summary.per_table.get(batch.table, 0) + batch.entries
        self.newest = newest
        self.summary.late += late_n
        for first, last in spans:
            self.summary.cover(first, last)
        self.summary.points += points
        self.summary.rounds += 1
        if points:
            log.debug("round %d: %d entries, %d points in %.3fs", self.summary.rounds,
                      sum(b.entries for _f, b in batches), points, took)
        return behind

    # --- progress ---------------------------------------------------------------------------------
    def start_progress(self) -> None:
        """--catchup: from the first entry to bridge to the newest, a bar on a terminal."""
        begin, end = None, None
        for feed in self.feeds:
            r = feed.reader
            def span(r=r, lo=feed.key[0] if feed.key else feed.floor):
                with self.source_engine.connect() as conn:
                    return conn.execute(sa.select(sa.func.min(r.dt), sa.func.max(r.dt))
                                        .where(r.dt >= lo, r.dt <= r.bound())).one()
            feed.queries += 1
            first, last = self.runner.retry("source", span)
            if first is None:
                continue
            first, last = _as_datetime(first), _as_datetime(last)
            begin = first if begin is None else min(begin, first)
            end = last if end is None else max(end, last)
        if begin is not None:
            self.runner.catching_up(begin, end, self.summary.entries)

    def position(self) -> datetime:
        keys = [f.key[0] for f in self.feeds if f.key is not None]
        return min(keys) if keys else self.cfg.timefloor

    def entries(self) -> int:
        return self.summary.entries

    def summarize(self) -> BridgeSummary:
        self.summary.queries = sum(f.queries for f in self.feeds)
        self.summary.wrong = sum(f.reader.kinds.total for f in self.feeds)
        self.summary.caught_up = self.runner.caught_up
        return self.summary

    def close(self) -> None:
        for feed in self.feeds:
            feed.close()
        self.file.close()
        self.source_engine.dispose()


def _as_datetime(value) -> datetime:
    """min()/max() lose the column type on SQLite: text in SQLite's format, parsed like the column would."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def bridge(cfg: Settings, options: RunOptions) -> BridgeSummary:
    runner = Runner(cfg, options)
    try:
        job = Bridge(cfg, runner)
    except BaseException:
        runner.release()  # a start-up that fails after taking the lease lets the section go at once
        raise
    try:
        if options.catchup:
            job.start_progress()
        runner.run(job, job.position, job.entries)
        return job.summarize()
    finally:
        job.close()
