"""The scraper loop: resume from the target, sample every source vector, propagate, repeat.

There is no state outside the target: on start each source's vector is rebuilt from its last validity
record (docs/concepts.md, resuming), so stopping at any point — cleanly or by SIGKILL — and restarting gives the same target as
one uninterrupted run.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from datetime import datetime, timedelta

from scraper.sources.sql.aggregation import Aggregator, check_rows, ensure_sqlite_math, not_null_columns
from scraper.config import Settings
from scraper.config.keys import AGGREGATE_KEYS, Key
from scraper.targets.dbi import Context
from scraper.modes.dbi_section import DbiSection, check_aggregates
from scraper.modes.lag import LagWatch
from scraper.modes.summary import Summary
from sqlalchemy.exc import DBAPIError

from scraper.errors import OperatorError
from scraper.runtime.blame import regime_failure
from scraper.runtime.retry import Stopped
from scraper.runtime.runner import Runner, RunOptions
from scraper.sources.sql.reader import SourceReader
from scraper.api import Source
from scraper.sources.sql.skipping import Skipper
from scraper.core.sourcevector import SourceVector
from scraper.modes.resume import Resume

log = logging.getLogger("scraper.engine")
svlog = logging.getLogger("scraper.sourcevector")
# While catching up (--catchup, or the sleep tuner measured a lag of many heartbeats), whatever the log
# level, propagations are committed in groups: one target transaction per `commit_records` propagations or
# COMMIT_SECONDS of real time, and whenever a round finds nothing new or the run ends. Each group is
# whole or absent, so the target stays a safe bookmark; a killed run redoes at most one group. That
# saves a transaction (0.1-1 ms) per propagation; live, each propagation is committed at once. The
# per-sample line is at INFO only live; while catching up it is at DEBUG, and INFO shows progress and
# one line per committed group (a catch-up of millions of entries writes no million INFO lines).
COMMIT_SECONDS = 0.25


class Scrape:
    """The scraper mode's Job (runtime/runner.py): rounds of samples (docs/concepts.md) over every source vector."""

    def __init__(self, cfg: Settings, runner: Runner):
        self.cfg, self.runner = cfg, runner
        options = runner.options
        self.catchup = options.catchup
        self.stop = runner.stop
        self.section = section = DbiSection.open(cfg, runner)
        self.regime, self.clock, self.scraper = section.regime, section.clock, section.scraper
        self.source_engine, self.target_engine = section.source_engine, section.target_engine
        self.writer, self.readers = section.writer, section.readers
        self.summary = Summary(cfg.section)
        self._contexts: dict[int, Context] = {}  # id(Source) -> its DBI context
        self.aggregators = self._aggregators()
        self.summary.before_floor = sum(r.count_before(cfg.timefloor) for r in self.readers)  # retried as source reads
        if self.summary.before_floor:
            log.info("%d source entries before timefloor %s (or without a time) are ignored",
                     self.summary.before_floor, cfg.timefloor)
        self.resume = Resume(cfg, section, self._context)
        self.svs = runner.startup("target", self._resume_all)
        self._pending: list[tuple[Context, datetime, datetime, list]] = []  # propagations not yet committed
        self._pending_since = 0.0
        # per reader: its bookmark at its last propagation; with its skipped count, at the last commit
        self._proceeded: dict[SourceReader, tuple[int, int, int | None]] = {}
        self._committed = [(r.bookmark(), r.skipped) for r in self.readers]
        self._rounds = 0
        self._sampling: SourceVector | None = None
        self.watch = LagWatch(runner, lambda: self.svs, self.readers)
        self.skippers: dict[SourceReader, Skipper] = {}  # sources whose database skips entries
        self._build_skippers()
        self.watch.tune()  # measure the lag once: decides between catch-up (progress shown) and live

    @classmethod
    def start(cls, cfg: Settings, **flags) -> "Scrape":
        """An engine on a runner of its own (RunOptions flags): for library use and tests."""
        return cls(cfg, Runner(cfg, RunOptions(**flags)))

    def run(self) -> Summary:
        self.runner.run(self, self.watch.position, self.watch.entries)
        return self.summarize()

    # --- start-up ---------------------------------------------------------------------------------
    def _aggregators(self) -> list[Aggregator | None]:
        """One aggregate query per source when `aggregate` is configured (docs/aggregation.md); None otherwise."""
        if not self.cfg.aggregate:
            return [None] * len(self.readers)
        startup = self.runner.startup
        startup("source", ensure_sqlite_math, self.source_engine)
        self._not_null = startup("target", not_null_columns, self.target_engine, self.writer.t.kls)
        return [startup("source", Aggregator, self.source_engine, r.query, r.dt, self.cfg) for r in self.readers]

    def _context(self, src: Source) -> Context:
        """Made once per source (asked for at every propagation)."""
        if id(src) not in self._contexts:
            self._contexts[id(src)] = self.section.context(src)
        return self._contexts[id(src)]

    def _resume_all(self) -> list[SourceVector]:
        return [self.resume(src, reader) for src, reader in zip(self.regime.sources, self.readers)]

    # --- the loop (driven by Runner.run) ------------------------------------------------------------
    def step(self) -> bool:
        """One round: one sample (or one database skip search) per source vector. A round that finds
        nothing commits what is pending; at the end of a catch-up it also checks the stretches still
        open, so that a disordered one is redone before the run ends rather than after."""
        progressed = self._guarded_round()
        if not progressed:
            self.watch.ahead()
            if not self._commit():
                return True  # a stretch is redone (see _redo): there is work again
            if self.catchup and not self._settle(final=True):
                return True
        return progressed

    def _guarded_round(self) -> bool:
        try:
            return self._round()
        except (DBAPIError, OperatorError, Stopped):
            raise
        except Exception as exc:
            sv = self._sampling
            failure = regime_failure(exc, self.regime, sv[-1] if sv is not None and len(sv) else None,
                                     sv.source.label if sv is not None else "?")
            if failure is None:
                raise
            self._commit()  # the propagations decided before it are whole: keep them (grouped commits)
            raise failure from exc

    def _round(self) -> bool:
        """One sample per source; a stretch of entries read ahead is sampled in one loop
        (SourceVector.sample_stretch): the same decisions per source, catch-up's per-entry cost without
        the per-round machinery (sources then take turns per stretch). Not where samples are counted
        (maxiter) or entries skipped (offset)."""
        cfg, skippers = self.cfg, self.skippers
        offset, maxage, changed = cfg.offset, cfg.maxage, self.scraper.changed  # hot loop
        stretches = not (cfg.maxiter or offset)
        # the per-sample line: INFO live, DEBUG while catching up
        level = logging.DEBUG if self._grouping() else logging.INFO
        show = svlog.isEnabledFor(level)
        emit = functools.partial(svlog.log, level) if show else None
        progressed = False
        for sv, reader, agg in zip(self.svs, self.readers, self.aggregators):
            self._sampling = sv  # whose entry a failing regime method was looking at
            skipper = skippers.get(reader)
            if skipper is not None and not reader.buffered and len(sv) and skipper.worthwhile(sv):
                if not skipper.sample(sv, changed, maxage):
                    continue
                if show:
                    svlog.log(level, sv.line())
            else:
                inst = reader.next_entry(sv.tcursor, sv.last_key, offset)
                if inst is None:
                    continue
                sv.sample(inst, changed, maxage)
                if show:
                    svlog.log(level, sv.line())
                if stretches and sv.state == "unchanged":  # the rest of the stretch read ahead
                    reader.took(sv.sample_stretch(reader.ahead(), changed, maxage, emit))
            progressed = True
            if sv.proceed:
                missed = skipper.proceeded(sv) if skipper is not None else None
                if missed is not None:
                    self._redo(missed)
                    return True
                if not self._propagate(sv, reader, agg):
                    return True  # its commit found a stretch to redo
        self._rounds += 1
        if progressed and self._pending and time.monotonic() - self._pending_since >= COMMIT_SECONDS:
            self._commit()
        return progressed

    def done(self) -> bool:
        return bool(self.cfg.maxiter) and self._rounds >= self.cfg.maxiter

    def idle(self) -> float:
        return self.watch.tuner.idle()

    def finish(self) -> None:
        """After the last round: count what the database judged in the stretches still open."""
        self._settle(final=True)  # a stretch to redo: the next run redoes what was not committed

    def summarize(self) -> Summary:
        self.summary.caught_up = self.runner.caught_up
        self.summary.entries_read = self.summary.samples = self.watch.entries()
        self.summary.late = sum(r.late for r in self.readers)
        self.summary.skipped = sum(r.skipped for r in self.readers)
        self.summary.queries = self._queries()
        self.summary.future, self.summary.wrong = self.watch.ahead(force=True), self.section.wrong()
        return self.summary

    def _queries(self) -> int:
        return sum(r.queries for r in self.readers) + sum(a.queries for a in self.aggregators if a)

    def gauges(self) -> dict[str, float | None]:
        measured = None if self.runner.caught_up else self.watch.lag()
        lag = timedelta(0) if self.runner.caught_up else (measured[0] if measured else None)
        return {"lag_s": max(lag, timedelta(0)).total_seconds() if lag is not None else None,
                "sleep_s": self.watch.tuner.sleep, "future": self.watch.ahead()}

    def totals(self) -> dict[str, float]:
        return {"propagations": self.summary.propagations, "entries_read": self.watch.entries(),
                "queries": sum(r.queries for r in self.readers), "late": sum(r.late for r in self.readers),
                "wrong_kind": self.section.wrong()}

    def _build_skippers(self) -> None:
        """Let the database skip unchanged entries (skipping.py) where that changes nothing observable:
        the regime declares a change rule, every entry is read (offset 0) and there is no sample budget
        (maxiter). The log level has no say: it never changes what is read, decided or committed."""
        cfg = self.cfg
        if not cfg.skip_in_database or cfg.offset or cfg.maxiter:
            return
        for reader in self.readers:
            skipper = Skipper.build(reader, self.scraper, (cfg.interval, cfg.maxage))
            if skipper is not None:
                self.skippers[reader] = skipper
        if self.skippers:
            log.info("the database skips entries that the change rule %r calls unchanged", self.scraper.rule())

    def _settle(self, final: bool = False) -> bool:
        """Count the entries judged in SQL and check the id-order stretches: before each commit, for the
        stretches it rests on; at the end, for the open ones too. False when one was missing a
        candidate, after the redo that calls for."""
        for skipper in self.skippers.values():
            missed = skipper.settle(final)
            if missed is not None:
                self._redo(missed)
                return False
        return True

    def _redo(self, missed: str) -> None:
        """An id-order skip search missed a candidate: forget everything decided since the last commit
        and resume from the target, as a restart would (that source's skipper now searches in
        (date_time, id) order). Nothing uncertain was committed: _commit() checks first."""
        dropped, self._pending, self._proceeded = len(self._pending), [], {}
        for reader, (bookmark, skipped) in zip(self.readers, self._committed):
            reader.restore(bookmark, skipped)
        for skipper in self.skippers.values():
            skipper.forget()
        self.svs = self._resume_all()
        log.warning("%s; %d propagation(s) not committed are redone, searching in (date_time, id) order",
                    missed, dropped)

    def _propagate(self, sv: SourceVector, reader: SourceReader, agg: Aggregator | None = None) -> bool:
        """Queue one propagation (committed at once live, in groups while catching up); False when its
        commit found a stretch to redo instead (see _commit)."""
        if agg is None:  # nothing in propagate() reads a database
            rows = list(self.scraper.propagate(sv))
        else:  # lazy: the aggregate query runs only if propagate() touches aggd
            sv[-1].aggd = agg.lazy(sv[0].t, sv[-1].t)
            rows = self.runner.retry("source", lambda: list(self.scraper.propagate(sv)))
            if self._not_null:
                check_rows(self.cfg, self.writer.t.kls, self._not_null, rows, sv[-1].aggd, (sv[0].t, sv[-1].t))
        if not self._pending:
            self._pending_since = time.monotonic()
        self._pending.append((self._context(sv.source), self.clock.to_utc(sv[0].t), self.clock.to_utc(sv[-1].t), rows))
        self._proceeded[reader] = reader.bookmark()
        sv.advance(self.cfg.interval)
        self.watch.propagated()
        if len(self._pending) >= self.cfg.commit_records or not self._grouping():
            return self._commit()
        return True

    def _grouping(self) -> bool:
        return self.catchup or self.watch.tuner.catching_up

    def flush(self) -> None:
        """Commit the pending propagations (Job.flush); a disordered stretch found on the way is redone."""
        self._commit()

    def _commit(self) -> bool:
        """Commit the pending propagations: ONE target transaction, whole or absent (see commit_records).
        False when the skip search's check found a stretch to redo: nothing is committed then."""
        if not self._pending:
            return True
        if not self._settle():
            return False
        records, self._pending = self._pending, []
        ctx, start, end, _rows = records[-1]
        self.runner.retry("target", self.writer.write_many, records, recovered=lambda: self.section.written(ctx, start, end))
        self._mark()
        self.summary.propagations += len(records)
        self.summary.cover(min(r[1] for r in records), max(r[2] for r in records))
        if self._grouping():  # live, the per-sample INFO line already said PROCEED
            log.info("committed %d propagation(s), validity up to %s UTC", len(records), max(r[2] for r in records))
        return True

    def _mark(self) -> None:
        """Each reader's counters as of the target's last commit: where _redo() resumes."""
        for k, reader in enumerate(self.readers):
            bookmark = self._proceeded.pop(reader, self._committed[k][0])
            self._committed[k] = (bookmark, reader.skipped)

    def close(self) -> None:
        for skipper in self.skippers.values():
            skipper.close()
        self.section.close()


KEYS = [
    Key("skip_in_database", "boolean", True,
        "let the database skip entries the regime's change rule calls unchanged (same target, far fewer "
        "rows read); False judges every entry in Python"),
    Key("commit_records", "integer(min=1)", 500,
        "propagations committed in one target transaction while catching up (live: each at once)"),
    Key("seed_target_tables", "boolean", False, "plant a seed validity record in an empty target"),
    Key("seed_timestart", "optional_time", None, "TIMESTART of the seed record (source-local)"),
    Key("seed_timeend", "optional_time", None, "TIMEEND of the seed record (source-local); scraping resumes here"),
]
USES = ("target", "kls", "interval", "heartbeat", "sleep", "tunesleepmod", "offset", "maxage", "threshold",
        "maxiter", "timefloor", "batch", "task", *AGGREGATE_KEYS, "production_names", "time_view", "lease_timeout")


def validate(cfg: Settings, regime) -> None:
    check_aggregates(cfg, regime)


def run(cfg: Settings, options: RunOptions) -> Summary:
    """Scrape the section's sources into its DBI target (docs/concepts.md) until stopped or, with --catchup,
    until the latest source entry has been sampled."""
    scrape = Scrape(cfg, Runner(cfg, options))
    try:
        return scrape.run()
    finally:
        scrape.close()
