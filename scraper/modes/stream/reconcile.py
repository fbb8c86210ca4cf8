"""`scr.py reconcile -s SECTION --day DATE`: the seed's daily question in one command.

For the night's topic: how many messages the broker holds (counted by reading every partition to its
end: a reported high watermark may trail the true end, so it is never used), how many distinct keys
they carry, how many of those keys have their row in the target, which are missing, and how many
messages were replays. Read-only on both sides; commits no offset.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime

import sqlalchemy as sa
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from scraper import db
from scraper.config import Settings

from .consumer import client_config, topic_of
from .decode import Decoder
from .ledger import IN_CHUNK, Ledger
from .regime import Invalid, load_stream_regime
from .mode import INVALID

READ_TIMEOUT_S = 600  # a topic that never reports its end (broker gone) ends the command


@dataclass
class TopicCount:
    topic: str
    partitions: int = 0
    messages: int = 0
    invalid: int = 0
    keys: int = 0
    replays: int = 0
    in_target: int = 0
    rejects_in_target: int = 0
    missing: list[str] = field(default_factory=list)


@dataclass
class Reconciliation:
    section: str
    day: str
    topics: list[TopicCount]

    @property
    def missing(self) -> int:
        return sum(len(t.missing) for t in self.topics)

    def json(self) -> str:
        return json.dumps(asdict(self) | {"missing": self.missing}, indent=1)

    def text(self) -> str:
        lines = []
        for t in self.topics:
            lines += [f"[{self.section}] {self.day}: topic {t.topic} ({t.partitions} partitions)",
                      f"  messages on the broker  {t.messages:>9}",
                      f"  undecodable or invalid  {t.invalid:>9}  (in stream_rejects: {t.rejects_in_target})",
                      f"  distinct keys           {t.keys:>9}",
                      f"  replays seen            {t.replays:>9}",
                      f"  rows in the target      {t.in_target:>9}",
                      f"  missing keys            {len(t.missing):>9}" + (
                          ": " + " ".join(t.missing[:50]) + (" ..." if len(t.missing) > 50 else "")
                          if t.missing else "")]
        return "\n".join(lines)


def read_topic(cfg: Settings, topic: str, decode: Decoder, regime) -> tuple[TopicCount, set[tuple]]:
    """Every message of `topic`, from the beginning of each partition to the end the fetch reports."""
    count = TopicCount(topic)
    consumer = Consumer({**client_config(cfg), "group.id": f"scraper-reconcile-{os.getpid()}",
                         "enable.auto.commit": False, "enable.partition.eof": True, "fetch.wait.max.ms": 50})
    keys: set[tuple] = set()
    try:
        try:
            meta = consumer.list_topics(topic, timeout=15).topics.get(topic)
        except KafkaException as exc:  # a one-shot command: one line, not a wait
            raise cfg.error("brokers", f"cannot read {topic} from {cfg.brokers}: {exc.args[0].str()}") from None
        if meta is None or meta.error is not None:
            return count, keys
        parts = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions]
        count.partitions = len(parts)
        consumer.assign(parts)
        ended: set[int] = set()
        deadline = time.monotonic() + READ_TIMEOUT_S
        while len(ended) < len(parts):
            if time.monotonic() > deadline:
                raise cfg.error("brokers", f"{topic}: partitions {sorted(set(range(len(parts))) - ended)} "
                                f"did not report their end within {READ_TIMEOUT_S} s")
            for m in consumer.consume(1000, 0.5):
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        ended.add(m.partition())
                    continue
                ended.discard(m.partition())
                count.messages += 1
                try:
                    keys.add(regime.identity(decode(m.value())))
                except INVALID:
                    count.invalid += 1
    finally:
        consumer.close()
    count.keys = len(keys)
    count.replays = count.messages - count.invalid - count.keys
    return count, keys


def reconcile(cfg: Settings, day: str) -> Reconciliation:
    try:
        when = datetime.fromisoformat(day)
    except ValueError:
        raise cfg.error(None, f'--day "{day}" is not a date (YYYY-MM-DD)') from None
    regime = load_stream_regime(cfg)
    topic = topic_of(cfg, when)
    count, keys = read_topic(cfg, topic, Decoder.of(cfg), regime)
    engine = db.connect(cfg, "target")
    try:
        ledger = Ledger(engine, cfg.section, regime)
        if ledger.missing():
            raise cfg.error("target", f"target has no table {', '.join(ledger.missing())} (never run?)")
        wanted = sorted(keys)
        with engine.connect() as conn:
            present = set()
            for i in range(0, len(wanted), IN_CHUNK):
                present |= ledger.existing_keys(conn, wanted[i:i + IN_CHUNK])
            r = ledger.rejects.c
            count.rejects_in_target = conn.execute(sa.select(sa.func.count()).where(
                r.section == cfg.section, r.topic == topic)).scalar()
    finally:
        engine.dispose()
    count.in_target = len(present)
    count.missing = ["/".join(str(v) for v in k) for k in wanted if k not in present]
    return Reconciliation(cfg.section, when.date().isoformat(), [count])
