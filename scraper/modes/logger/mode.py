"""mode = logger: poll a device (or load a folder of result files) into the target, in rounds.

A device section polls once every `sleep` (a steady cadence: the next poll is due `sleep` after the
previous one was, not after it ended), checks the reply's messages whole (batches.py) and writes
them in one transaction. While the target is down, batches go to the spool (spool.py) instead: one
log line when the outage starts and one when it ends, a bounded backoff between attempts, polling
never paused. Once the target answers, the spool is drained in order, a few transactions per round
so the polls keep their cadence, before any new batch is written directly: rows arrive in the order
they were read.

A folder section loads, each round, every settled file whose content is not in the ledger: each file
checked whole, then the good ones together, about `batch` rows a transaction, each file's ledger row
in the transaction of its rows; files wait in the folder while the target is down.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from operator import itemgetter
from typing import Any, Callable, TypeVar

from scraper.config import Settings
from scraper.config.plugins import load_regime
from scraper.runtime.retry import MISTAKE, OUTAGE, Backoff, classify, db_errors, mistake, reason
from scraper.runtime.runner import RunOptions, Runner

from . import paths, rejects
from .ahead import Ahead
from .api import Device, Folder, LoggerRegime
from .batches import Batch, Refused, check
from .files import Inbox, Read
from .polling import DeviceFault, Poller
from .spool import Spool
from .store import Store

log = logging.getLogger("scraper.logger")
T = TypeVar("T")
DRAIN_PER_ROUND = 20  # spool transactions per round: a long spool drains without starving the polls


@dataclass
class LoggerSummary:
    section: str
    target: str = ""
    polls: int = 0
    faults: int = 0
    readings: int = 0       # written to the target directly
    refused: int = 0        # batches (polls or files) refused whole, kept in `rejected`
    spooled: int = 0        # readings kept in the spool while the target was down
    drained: int = 0        # readings written from the spool
    dropped: int = 0        # readings lost because the spool was full
    spool_left: int = 0
    files: int = 0
    file_rows: int = 0
    twins: int = 0          # files whose content was already loaded
    future: int = 0         # of the refused: dated beyond now + future_tolerance (not data yet)
    device: bool = True

    def text(self) -> str:
        ahead = f" ({self.future} dated in the future)" if self.future else ""
        if self.device:
            out = (f"[{self.section}] polls {self.polls} (faults {self.faults}), readings written {self.readings}, "
                   f"refused batches {self.refused}{ahead}, spooled {self.spooled}, drained {self.drained}, "
                   f"dropped {self.dropped}, left in the spool {self.spool_left}")
        else:
            out = (f"[{self.section}] files loaded {self.files} ({self.file_rows} rows), already loaded "
                   f"{self.twins}, refused {self.refused}{ahead}")
        return f"{out} -> {self.target}"


class Logger:
    """The logger as a Job of the mode-neutral runner (scraper/runtime/runner.py): one round per step."""

    def __init__(self, cfg: Settings, runner: Runner):
        self.cfg, self.runner = cfg, runner
        regime = load_regime(cfg, need_target=False)
        if not issubclass(regime, LoggerRegime):
            raise cfg.error("regime", f'"{cfg.regime}" is not a LoggerRegime (scraper.modes.logger.api)')
        self.topics = {t.name: t for t in regime.topics}
        self.source = regime.sources[0]
        self.summary = LoggerSummary(cfg.section, device=isinstance(self.source, Device))
        self.store = Store(cfg, regime.topics)
        self.store.on_ready = runner.record_metrics_in
        self.backoff = Backoff(max(cfg.backoff_cap.total_seconds(), 0.01))
        self.down_since: float | None = None
        self.attempts = 0
        self.next_try = 0.0
        self.newest: float | None = None
        self.rejected = paths.local(cfg, cfg.rejected)
        self.ahead = Ahead(f"device {cfg.device}" if cfg.device else str(cfg.folder), cfg.future_tolerance)
        self.poller: Poller | None = None
        self.spool: Spool | None = None
        self.inbox: Inbox | None = None
        self._refusing = False
        self._full = False
        self.parsed = False
        self.store.connect()
        self.summary.target = self.store.engine.url.render_as_string(hide_password=True)
        if isinstance(self.source, Device):
            self.poller = Poller(self.source, cfg.device, cfg.timeout.total_seconds())
            self.spool = Spool(paths.local(cfg, cfg.spool), cfg.spool_max)
            self.spool.open()
            if self.spool.pending:
                log.info("spool %s: %d readings wait for the target", self.spool.path, self.spool.readings)
        else:
            self.inbox = Inbox(paths.local(cfg, cfg.folder), paths.pattern(cfg, self.source),
                               cfg.settle.total_seconds(), cfg.done, self.rejected)
        self.next_poll = time.monotonic()

    # --- the Job protocol -------------------------------------------------------------------------
    def step(self) -> bool:
        if self.inbox is not None:
            return self.load_files()
        self.drain()
        self.poll()
        return False

    def flush(self) -> None:
        """Nothing is pending in memory: every batch is committed or spooled when it is read."""

    def finish(self) -> None:
        """A run that ends by itself (maxiter, --catchup) leaves no spool behind if the target is up;
        a stop (SIGTERM, the sentinel) ends at once: the spool is drained by the next start."""
        if self.spool is not None and not self.runner.stopped:
            self.drain(budget=None)

    def idle(self) -> float:
        if self.inbox is not None:
            return self.cfg.sleep.total_seconds()
        return max(0.0, self.next_poll - time.monotonic())

    def done(self) -> bool:
        return bool(self.cfg.maxiter) and self.summary.polls >= self.cfg.maxiter

    def gauges(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {"lag_s": None if self.newest is None else round(time.time() - self.newest, 3)}
        if self.spool is not None:
            out["spool_readings"] = float(self.spool.readings)
        out["future"] = float(self.ahead.spell)  # status: WARNING while batches are refused as ahead of the clock
        return out

    def totals(self) -> dict[str, float]:
        s = self.summary
        return {"polls": s.polls, "faults": s.faults, "readings": s.readings + s.drained + s.file_rows,
                "refused": s.refused, "spooled": s.spooled, "dropped": s.dropped, "files": s.files}

    # --- the target -------------------------------------------------------------------------------
    def _target(self, fn: Callable[..., T], *args: Any) -> tuple[bool, T | None]:
        """(True, result), or (False, None) while the target is down (one line when an outage starts,
        one when it ends, attempts spaced by the backoff). A mistake is one line and exit 2."""
        if self.down_since is not None and time.monotonic() < self.next_try:
            return False, None
        try:
            result = fn(*args)
        except db_errors() as exc:
            kind = classify(exc)
            if kind == MISTAKE:
                raise self.cfg.error("target", mistake(exc)) from None
            if kind != OUTAGE:
                raise
            self.runner.retrier.errors += 1
            if self.down_since is None:
                self.down_since, self.attempts = time.monotonic(), 0
                where = f"polled batches go to the spool {self.spool.path}" if self.spool else "files wait"
                log.warning("target DB down: %s; %s; retrying with backoff up to %gs", reason(exc), where,
                            self.backoff.cap)
            self.next_try = time.monotonic() + self.backoff.delay(self.attempts)
            self.attempts += 1
            return False, None
        if self.down_since is not None:
            log.warning("target DB back up after %.1fs (%d failed attempts)", time.monotonic() - self.down_since,
                        self.attempts)
            self.down_since = None
        return True, result

    def write(self, batches: list[Batch]) -> dict[str, str] | None:
        """Every target transaction of the mode goes through here (the lease check belongs here too).
        None while the target is down; else {path: path loaded under} of the files whose content was already in.
        The section's lease (runtime/lease.py) is taken at the first write that finds the target up, not
        at start: a logger started while its target is down must poll and spool meanwhile. A second
        copy then stands by there, and every later commit is fenced."""
        if self.runner.lease is None:
            held, _ = self._target(self.runner.hold, self.store.engine, "target", False)
            if not held:
                return None
        ok, known = self._target(self.store.write, batches)
        if ok:
            for batch in batches:
                for rows in batch.rows.values():
                    top = max(map(itemgetter(0), rows)) if rows else None
                    if top is not None and (self.newest is None or top > self.newest):
                        self.newest = float(top)
            return known
        return None

    def reach(self) -> None:
        """A section whose every batch is refused as dated in the future still opens its target (its
        tables, the lease, an empty transaction): its metrics go there, and `status` says WARNING."""
        if not self.store.ready:
            self.write([])

    # --- devices ----------------------------------------------------------------------------------
    def poll(self) -> None:
        assert self.poller is not None
        now = time.monotonic()
        self.next_poll = max(self.next_poll + self.cfg.sleep.total_seconds(), now)
        self.summary.polls += 1
        try:
            reply = self.poller.ask()
        except DeviceFault as fault:
            self.summary.faults += 1
            self.poller.failed(str(fault))
            return
        try:
            messages = self.source.parse(reply.data)
        except Exception as exc:  # noqa: BLE001 - garbage from the device (or the regime's parse): a fault
            self.summary.faults += 1
            self.poller.failed(f"unreadable reply ({type(exc).__name__}: {exc}): {reply.data[:60]!r}")
            return
        self.poller.answered()
        received = reply.received if self.cfg.time_from == "receipt" else None
        try:
            batch = check(self.cfg.device, messages, self.topics, received)
        except Refused as exc:
            kept = rejects.keep(self.rejected, self.cfg.device, str(exc), reply.data, messages)
            self.summary.refused += 1
            if not self._refusing:
                log.warning("device %s: batch refused whole (%s), kept in %s; %d refused so far",
                            self.cfg.device, exc, kept, self.summary.refused)
            self._refusing = True
            return
        self._refusing = False
        why = self.ahead.reason(batch) if received is None else None
        if why is not None:
            kept = rejects.keep(self.rejected, self.cfg.device, why, reply.data, messages)
            self.summary.refused += 1
            self.summary.future += 1
            self.ahead.refused(f"device {self.cfg.device}", why, kept)
            self.reach()
            return
        self.ahead.in_time()
        self.deliver(batch)

    def deliver(self, batch: Batch) -> None:
        """Straight to the target, or to the spool while it is down or the spool still has records
        (rows reach the target in the order they were read)."""
        assert self.spool is not None
        if not self.spool.pending:
            try:
                if self.write([batch]) is not None:
                    self.summary.readings += batch.readings
                    return
            except BaseException:  # a mistake (exit 2) or a bug: the readings in hand wait for the next run
                self.to_spool(batch)
                raise
        self.to_spool(batch)

    def to_spool(self, batch: Batch) -> None:
        assert self.spool is not None
        if self.spool.append(batch.as_record()):
            self.summary.spooled += batch.readings
            if self._full:
                log.warning("spool %s has room again; %d readings were dropped", self.spool.path, self.summary.dropped)
                self._full = False
            return
        self.summary.dropped += batch.readings
        if not self._full:
            log.error("spool %s is full (%d readings, spool_max = %d): new readings are dropped until the "
                      "target is back", self.spool.path, self.spool.readings, self.spool.limit)
            self._full = True

    def drain(self, budget: int | None = DRAIN_PER_ROUND) -> None:
        assert self.spool is not None
        if not self.spool.pending:
            return
        try:
            self._drain(budget)
        finally:
            if self.parsed:
                self.parsed = False
                try:
                    newest = self.store.newest()
                except db_errors():
                    newest = None  # the target went away meanwhile: the next write says so
                if newest is not None and (self.newest is None or newest > self.newest):
                    self.newest = newest

    def _drain(self, budget: int | None) -> None:
        assert self.spool is not None
        for chunk in self.spool.chunks(self.cfg.batch, raw=self.store.parses_json):
            try:
                rows, arrays = self.store.aligned(chunk.rows)
            except ValueError as exc:  # the regime changed under a waiting spool: kept, for the operator
                raise self.cfg.error("regime", f"spool {self.spool.path}: {exc}; the spool is kept") from None
            if self.write([Batch("spool", rows, chunk.readings, arrays=arrays)]) is None:
                return
            self.spool.committed(chunk)
            self.summary.drained += chunk.readings
            self.parsed = self.parsed or bool(arrays)  # rows SQLite parsed: drain() asks their newest time
            if not self.spool.pending:
                log.info("spool %s drained: %d readings written from it so far", self.spool.path,
                         self.summary.drained)
                return
            if budget is not None:
                budget -= 1
                if budget <= 0:
                    return

    # --- folders ----------------------------------------------------------------------------------
    def load_files(self) -> bool:
        """One pass over the ready files; True when some were loaded (another pass follows at once).

        Each file is read and checked whole first (a bad one is refused and kept aside alone); the
        good ones go to the target together, about `batch` rows a transaction, each with its ledger
        row in that transaction, and are deleted or moved only after its commit."""
        assert self.inbox is not None and isinstance(self.source, Folder)
        progressed = False
        todo: list[tuple[Path, Read, Batch]] = []
        rows = 0
        for path in self.inbox.ready():
            if self.runner.stopped:
                break
            read = self.inbox.read(path)
            if read is None:
                continue
            try:
                batch = check(path.name, self.source.parse(json.loads(read.data)), self.topics)
                why = self.ahead.reason(batch)
            except (ValueError, Refused) as exc:
                why, batch = str(exc), None
            if why is not None:
                kept = self.inbox.reject(path, why)
                self.summary.refused += 1
                log.warning("%s: refused whole (%s), kept as %s", path, why, kept)
                if batch is not None:
                    self.summary.future += 1
                    self.ahead.refused(str(path), why, kept, say=False)
                    self.reach()
                continue
            self.ahead.in_time()
            batch.ledger = read.ledger(batch.readings)
            todo.append((path, read, batch))
            rows += batch.readings
            if rows >= self.cfg.batch:
                if not self._load(todo):
                    return False
                todo, rows, progressed = [], 0, True
        if todo:
            if not self._load(todo):
                return False
            progressed = True
        return progressed

    def _load(self, todo: list[tuple[Path, Read, Batch]]) -> bool:
        """Some checked files in one transaction, then each deleted or moved; False while the target is down."""
        assert self.inbox is not None
        known = self.write([batch for _p, _r, batch in todo])  # the ledger is asked inside the transaction
        if known is None:
            return False
        for path, _read, batch in todo:
            self.inbox.finish(path)
            if str(path) in known:
                self.summary.twins += 1
                log.info("%s: same content as %s, already loaded: nothing added", path, known[str(path)])
                continue
            self.summary.files += 1
            self.summary.file_rows += batch.readings
        return True

    def close(self) -> None:
        if self.spool is not None:
            self.summary.spool_left = self.spool.readings
        if self.poller is not None:
            self.poller.close()
        self.store.close()


def logger(cfg: Settings, options: RunOptions) -> LoggerSummary:
    runner = Runner(cfg, options)
    job = Logger(cfg, runner)
    try:
        runner.run(job)
        return job.summary
    finally:
        job.close()
