"""The mode-neutral runner: what every mode gets for unattended running, whatever it reads or writes.

A mode (scraper/modes/) turns a section into a Job: one round of work at a time (`step`), a way to
commit what is pending (`flush`), and its counters. The Runner owns the rest, once for all modes:
- stop: SIGTERM/SIGINT or the sentinel file (runtime/stop.py) end the loop between two rounds;
- outage retries: `runner.retry("source"|"target", fn, ...)` (runtime/retry.py) around every database
  call, so an outage of any mode's database is waited out, logged once when it starts and once when it
  ends, and never ends the process;
- self-metrics: the job's gauges and counters into `scraper_metrics` every `metrics_every` and at exit;
- progress: a bar on a terminal, a log line otherwise, while a job reports it is catching up;
- the loop itself: a round that found nothing ends a `--catchup` run (after a final flush) or sleeps
  `job.idle()` seconds before the next one.
"""
from __future__ import annotations

import functools
import gc
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Protocol, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from scraper.config import Settings
from scraper.runtime.lease import Lease
from scraper.runtime.metrics import MetricsWriter
from scraper.runtime.progress import Progress
from scraper.runtime.retry import MISTAKE, OUTAGE, Retrier, Stopped, classify, reason

log = logging.getLogger("scraper.runner")
T = TypeVar("T")
# gen-0 collection threshold while running: several batches of entries read (see Runner.run)
YOUNG_OBJECTS = 20_000


@dataclass
class RunOptions:
    """What the command line adds to a section's settings for one run."""

    allow_create: bool = False  # --ALLOW_DROP_CREATE_TABLE
    drop: bool = False          # --DROP_TARGET_TABLES
    catchup: bool = False       # --catchup: run until nothing new is found, then exit 0
    dry_run: bool = False       # --dry-run: say what would be changed, change nothing
    stop: threading.Event | None = None


class Job(Protocol):
    """One section's work, as a mode presents it to the runner."""

    summary: Any  # has .text(); printed at exit

    def step(self) -> bool:
        """One round; True when it read or wrote something (False: nothing new for now)."""

    def flush(self) -> None:
        """Commit whatever the rounds so far left pending (whole or absent)."""

    def idle(self) -> float:
        """Seconds to sleep after a round that found nothing (live running)."""

    def done(self) -> bool:
        """True when the job has finished its work (a sample budget, a one-pass mode)."""

    def gauges(self) -> Mapping[str, float | None]:
        """Values at this moment for scraper_metrics (e.g. lag_s)."""

    def totals(self) -> Mapping[str, float]:
        """Cumulative counters since start for scraper_metrics (written as per-period increases)."""


class Runner:
    """Runs one Job: stop, retries, metrics, progress and the loop (see the module docstring)."""

    ran = False  # a run of this process has frozen the collector, and left what it built, before
    host_froze = False  # the host froze its heap: asked once, as gc.get_freeze_count() walks all of it

    def __init__(self, cfg: Settings, options: RunOptions):
        self.cfg, self.options = cfg, options
        self.stop = options.stop or threading.Event()
        self.retrier = Retrier(cfg, self.stop)
        progress_every = cfg.get("progress_every", timedelta(seconds=10))
        self.progress = Progress(progress_every.total_seconds())
        self.metrics: MetricsWriter | None = None
        self._metrics_down = False
        self.caught_up = False
        self.lease: Lease | None = None

    # --- services a mode calls --------------------------------------------------------------------
    def retry(self, which: str, fn: Callable[..., T], *args, recovered: Callable[[], bool] | None = None,
              **kwargs) -> T | None:
        return self.retrier.call(which, fn, *args, recovered=recovered, **kwargs)

    def guard(self, which: str) -> Callable[..., Any]:
        """`retry` bound to `which`, for a reader's every statement: guard(fn, *args). The retrier's own
        method, bound, rather than a function calling `retry`: a catch-up calls it per search."""
        return functools.partial(self.retrier.call, which)

    def startup(self, which: str, fn: Callable[..., T], *args, **kwargs) -> T:
        """A start-up step (connect, DDL, reflection): an outage is waited out like mid-run (a scraper
        started before its database still runs), a mistake is one line naming the key."""
        return self.retrier.call(which, fn, *args, **kwargs)  # type: ignore[return-value]

    @property
    def stopped(self) -> bool:
        return self.stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when a stop was requested meanwhile."""
        return self.stop.wait(seconds)

    def record_metrics_in(self, engine: Engine) -> None:
        """Write this section's self-metrics into `engine`'s scraper_metrics table (if `metrics`)."""
        if not self.cfg.get("metrics", True):
            return
        every = self.cfg.get("metrics_every", timedelta(minutes=1)).total_seconds()
        self.metrics = MetricsWriter(engine, self.cfg.section, every)
        self.startup("target", self.metrics.ensure_table)

    def hold(self, engine: Engine, which: str = "target", wait_out_outages: bool = True) -> None:
        """Take this section's lease in `engine` (the database the mode writes, named by config key
        `which`) and fence every commit on it (runtime/lease.py). Blocks as a standby while another
        process holds the section: call it before resuming from what that database holds.
        `wait_out_outages=False` lets an outage reach the caller instead (a logger spools meanwhile)."""
        if self.options.dry_run:
            return  # writes nothing: needs no lease, and must not wait for one
        lease = Lease(engine, self.cfg.section, self.cfg.get("lease_timeout", timedelta(seconds=30)).total_seconds(),
                      self.stop, self.retrier.call if wait_out_outages else None)
        lease.acquire(which)
        lease.fence(engine)
        self.lease = lease
        self.retrier.confirm = lease.confirm

    def release(self) -> None:
        """Let the lease go (a standby takes over at once). At the end of every run, and by a mode whose
        start-up fails after `hold`: no renewal thread may outlive the section."""
        if self.lease is not None:
            self.lease.release()
            self.retrier.confirm = None

    def catching_up(self, begin: datetime, end: datetime, entries: int) -> None:
        """The job is far behind: show progress from DB time `begin` to `end` (the source's latest)."""
        self.progress.start(begin, end, entries)

    # --- the loop ---------------------------------------------------------------------------------
    def run(self, job: Job, position: Callable[[], datetime] | None = None,
            entries: Callable[[], int] | None = None) -> Any:
        """Round after round until done, stopped, or (with --catchup) nothing new; then the summary.

        `position()` (DB time reached) and `entries()` feed the progress display while it is active."""
        failed = False
        # What start-up built (SQLAlchemy's tables and compiled statements, the regime) lives as long as
        # the run: out of the collector's way, so that its full collections, which a catch-up's
        # million entries read trigger again and again, do not walk it each time (~1 % of a catch-up).
        # And a young generation the size of a batch read: an entry lives until it is sampled, so with
        # the default (700 allocations) every batch was walked by a few collections (~3 %)
        # Garbage is collected first when an earlier run of this process ended: frozen, the cycles it
        # left (engines, compiled statements) would never be freed, and a program that runs sections
        # again and again (the regime test kit) grew by gigabytes. Not before a process's first run:
        # what its start-up left is freed by the next run's collection or the collector, once unfrozen,
        # and the full walk costs a catch-up ~2 % of its CPU (bench, 1 M entries).
        # A host that froze objects of its own (a test runner, a server embedding the library) owns the
        # collector's policy: its heap is left as it is (a full collection of a large host costs a
        # second a run, and unfreezing afterwards would thaw what the host froze).
        # Runs of a process are sequential and each unfreezes what it froze: a frozen heap at a run's start
        # is the host's, for good (get_freeze_count() costs ~15 ms a call in a test worker's heap).
        thresholds = gc.get_threshold()
        freezing = not Runner.host_froze and gc.get_freeze_count() == 0
        Runner.host_froze = not freezing
        if freezing:
            if Runner.ran:
                gc.collect()
            gc.freeze()
        Runner.ran = True
        gc.set_threshold(max(thresholds[0], YOUNG_OBJECTS), *thresholds[1:])
        try:
            while not self.stopped:
                if self.lease is not None:
                    self.lease.verify()  # the renewal found the section taken over: write nothing more
                progressed = job.step()
                if self.progress.due() and position is not None and entries is not None:
                    self.progress.update(position(), entries())
                if self.metrics is not None and self.metrics.due():
                    self.write_metrics(job)
                if job.done():
                    break
                if not progressed:
                    job.flush()
                    if entries is not None:
                        self.progress.finish(entries())
                    if self.options.catchup:
                        self.caught_up = True
                        break
                    self.wait(job.idle())
            job.flush()
            finish = getattr(job, "finish", None)  # optional: close what is still open after the last round
            if finish is not None:
                finish()
        except Stopped:
            pass  # stop requested while a database was down: only whole writes are in the target
        except BaseException as exc:
            failed = True  # no metrics write that could mask the real error
            if isinstance(exc, Exception):
                self._record_failure()
            raise
        finally:
            gc.set_threshold(*thresholds)
            if freezing:
                gc.unfreeze()  # collectable again once the run is over (a program may run many)
            if entries is not None:
                self.progress.finish(entries())
            if not failed and self.metrics is not None and not self.retrier.down:
                try:
                    self.write_metrics(job)
                except Stopped:
                    pass  # a database went down during shutdown: these last counts are lost, nothing else
            self.release()  # a standby takes over at once
        return job.summary

    def _record_failure(self) -> None:
        """The run ends on an error: say so in scraper_metrics (`failed` 1) for `scr.py status`. Best
        effort, and never in the way of the error itself."""
        if self.metrics is None:
            return
        try:
            self.metrics.write({"failed": 1.0}, {})
        except Exception as exc:  # the error being raised is the one that matters
            log.debug("metrics: could not record the failure: %s", exc)

    def write_metrics(self, job: Job) -> None:
        """Best effort: a target that is down only delays the metrics (counters carry over)."""
        assert self.metrics is not None
        try:
            totals = {**job.totals(), "errors": self.retrier.errors}
            self.metrics.write({**job.gauges(), "failed": 0.0}, totals)
            if self._metrics_down:
                log.warning("metrics: writing to %s works again", self.metrics.table.name)
                self._metrics_down = False
        except DBAPIError as exc:
            kind = classify(exc)
            if kind == MISTAKE:
                raise self.cfg.error("metrics", f"permission denied writing {self.metrics.table.name}: "
                                     f"{reason(exc)} (grant INSERT or set metrics = False)") from None
            if kind != OUTAGE:
                raise
            self.retrier.errors += 1
            self.metrics.postpone()
            if not self._metrics_down:
                log.warning("metrics: cannot write (%s); will retry next period", reason(exc))
                self._metrics_down = True
