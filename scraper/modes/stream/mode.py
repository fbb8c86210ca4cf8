"""mode = stream: a Kafka topic into the target, exactly once, as a Job of the mode-neutral runner.

A round consumes up to `batch` messages, decodes each (decode.py), turns it into rows with the
regime, and writes the batch through Ledger.write: rows, rejects and positions in one transaction.
Only then are the positions copied to the broker. Killed at any moment, the next start seeks to the
positions in the target and re-reads at most the uncommitted batch, which is then written once.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from scraper import db
from scraper.config import Settings
from scraper.runtime.runner import RunOptions, Runner

from .ahead import Ahead
from .consumer import Feed
from .decode import Decoder
from .lag import LagBoard, totals
from .ledger import Item, Ledger
from .regime import Invalid, load_stream_regime
from .store import Store

log = logging.getLogger("scraper.stream")
POLL_S = 0.5  # longest wait of one consume() for the first message of a round
INVALID = (Invalid, KeyError, TypeError, ValueError, AttributeError, IndexError)


@dataclass
class StreamSummary:
    section: str
    topic: str = ""
    messages: int = 0
    written: int = 0
    replayed: int = 0
    rejected: int = 0
    future: int = 0  # of the rejected: dated beyond now + future_tolerance (ahead.py)
    rows: int = 0
    caught_up: bool = False
    reasons: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        return (f"[{self.section}] messages {self.messages} from {self.topic}: written {self.written} "
                f"({self.rows} rows), replayed {self.replayed}, rejected {self.rejected}"
                + (f" ({self.future} dated in the future)" if self.future else ""))


class Stream:
    def __init__(self, cfg: Settings, runner: Runner, options: RunOptions):
        self.cfg, self.runner = cfg, runner
        cfg.require("target", "brokers", "topic")
        self.regime = load_stream_regime(cfg)
        self.decode = Decoder.of(cfg)
        store = Store(_path(cfg, cfg.store)) if cfg.store else None
        self.engine = db.connect(cfg, "target", writer=True, create=options.allow_create, retry=runner.startup)
        self.ledger = Ledger(self.engine, cfg.section, self.regime, store.keep if store else None)
        missing = runner.startup("target", self.ledger.missing)
        if options.drop or missing:
            if not options.allow_create:
                self.engine.dispose()
                raise cfg.error("target", f"target has no table {', '.join(missing)} "
                                "(start with --ALLOW_DROP_CREATE_TABLE)")
            runner.startup("target", self.ledger.create, options.drop)
        runner.record_metrics_in(self.engine)
        self.lag = LagBoard(self.engine, cfg.section, cfg.metrics_every)
        runner.startup("target", self.lag.ensure)
        self.feed = Feed(cfg, lambda topics: runner.retry("target", self.ledger.stored_positions, topics))
        self.summary = StreamSummary(cfg.section, self.feed.topic)
        self.catchup = options.catchup
        self.newest_ts: dict[tuple[str, int], float] = {}  # broker time (s) of the newest message ingested
        self._said: set[str] = set()
        self.ahead = Ahead(cfg.future_tolerance, cfg.metrics_every)

    # --- the Job protocol -------------------------------------------------------------------------
    def step(self) -> bool:
        self.feed.follow_night()
        messages = self.feed.poll(self.cfg.batch, POLL_S)
        if not messages:
            return not (self.catchup and self.feed.caught_up())
        batch = [self._item(m) for m in messages]
        out = self.runner.retry("target", self.ledger.write, batch)
        if out is None:
            return False  # stopped while the target was down: nothing of this batch is committed
        ends: dict[tuple[str, int], int] = {}
        for it in batch:
            ends[(it.topic, it.partition)] = max(ends.get((it.topic, it.partition), 0), it.offset + 1)
        self.feed.committed(ends)
        s = self.summary
        if len(ends) > 1 or s.topic != batch[0].topic:  # nights change (consumer.py): name every topic read
            s.topic = ", ".join(sorted(set(s.topic.split(", ")) | {t for t, _p in ends}))
        s.messages += len(batch)
        s.written += out.written
        s.replayed += out.replayed
        s.rejected += out.rejected
        s.rows += out.rows
        for m in messages:
            ms = m.timestamp()[1]
            if ms > 0:
                tp = (m.topic(), m.partition())
                self.newest_ts[tp] = max(self.newest_ts.get(tp, 0.0), ms / 1000)
        log.debug("batch of %d: written %d, replayed %d, rejected %d", len(batch), out.written,
                  out.replayed, out.rejected)
        return True

    def _item(self, m) -> Item:
        it = Item(m.topic(), m.partition(), m.offset(), m.value())
        try:
            message = self.decode(it.raw)
            it.key = self.regime.identity(message)
            it.rows = {name: list(rows) for name, rows in self.regime.rows(message).items()}
            when = self.regime.time(message)
            it.reason = self.ahead.reason(when)
            if it.reason is not None:  # not data yet: rejected and counted, its position consumed
                it.rows = {}
                self.summary.future += 1
                self.ahead.seen(f"{it.topic}[{it.partition}] offset {it.offset}", it.key, when)
        except INVALID as exc:
            it.reason = str(exc) if isinstance(exc, Invalid) else f"{self.regime.__name__}.rows(): " \
                f"{type(exc).__name__}: {exc}"
            kind = it.reason.split(":")[0]
            self.summary.reasons[kind] = self.summary.reasons.get(kind, 0) + 1
            if kind not in self._said:  # bad data: logged once per kind, counted, kept in stream_rejects
                self._said.add(kind)
                log.warning("%s[%d] offset %d rejected: %s (kept in stream_rejects; further ones counted)",
                            it.topic, it.partition, it.offset, it.reason)
        return it

    def flush(self) -> None:
        """Nothing is ever pending: each round commits itself."""

    def idle(self) -> float:
        return 0.0  # consume() itself waits up to POLL_S for the next message

    def done(self) -> bool:
        return bool(self.cfg.maxiter) and self.summary.messages >= self.cfg.maxiter

    def gauges(self) -> dict[str, float | None]:
        """The GROUP's lag (lag.py): this process's partitions published, then every member's summed,
        so processes of one section write the same gauges instead of overwriting each other's share."""
        self.ahead.tick()
        now = time.time()
        mine = {tp: (n, 0.0 if not n or tp not in self.newest_ts else round(max(now - self.newest_ts[tp], 0), 3))
                for tp, n in self.feed.behind().items()}
        self.lag.publish(mine)
        msgs, secs = totals(self.lag.current())
        return {"behind_msgs": float(msgs), "behind_s": secs}

    def totals(self) -> dict[str, float]:
        s = self.summary
        return {"messages": s.messages, "written": s.written, "replayed": s.replayed, "rejected": s.rejected,
                "future_rejected": s.future}

    def close(self) -> None:
        self.feed.close()
        self.engine.dispose()


def _path(cfg: Settings, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else cfg.base_dir / p


def stream(cfg: Settings, options: RunOptions) -> StreamSummary:
    runner = Runner(cfg, options)
    job = Stream(cfg, runner, options)
    try:
        runner.run(job)
        job.summary.caught_up = runner.caught_up
        return job.summary
    finally:
        job.close()
