"""The stream tests' world: a throwaway Tansu broker for the session, config files with a faker and a
stream section on a topic of their own, and helpers that read a target back or the broker raw."""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scraper import commands
from scraper.modes.stream.broker import Broker

_topics = itertools.count()
NIGHT = "2020-12-27"
# Tansu takes any session timeout: 3 s (6 heartbeats) instead of Kafka's least 6 s halves what a
# restart after a SIGKILL, and the survivors of a killed member, wait for the broker to give up on it
SESSION = "3s"


@pytest.fixture(scope="session")
def broker():
    with Broker() as b:
        yield b


def write_cfg(path: Path, broker: Broker, target: str, *, alerts: int = 300, replay_at: str = "10:00",
              stream: dict[str, Any] | None = None, faker: dict[str, Any] | None = None) -> Path:
    """Sections `faker` and `stream` on a topic no other test uses."""
    topic = f"t{os.getpid()}_{next(_topics)}_ztf_%Y%m%d_programid1"
    common = {"regime": "regimes.ztf:Ztf", "brokers": broker.address, "topic": topic, "night": NIGHT}
    sections = {
        "faker": {**common, "mode": "stream_faker", "faker_alerts": alerts, "faker_replay_at": replay_at,
                  "faker_partitions": 3, **(faker or {})},
        "stream": {**common, "mode": "stream", "consumer_group": f"g_{topic}", "target": target, "batch": 100, "metrics_every": "1s",
                   "session_timeout": SESSION, **(stream or {})},
    }
    lines = []
    for name, keys in sections.items():
        lines += [f"[{name}]", *(f"{k} = {v}" for k, v in keys.items()), ""]
    path.write_text("\n".join(lines))
    return path


def run(cfg_path: Path, section: str, **kw):
    kw.setdefault("allow_create", True)
    return commands.run(commands.settings(str(cfg_path), section), **kw)


def cli(cfg_path: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scraper", *args, "--cfg", str(cfg_path)],
                          capture_output=True, text=True, timeout=timeout)


def contents(url: str) -> dict[str, list[tuple]]:
    """Every row of the stream tables, sorted, positions without their time: what exactly-once compares."""
    engine = sa.create_engine(url)
    wanted = {"ztf_alert": None, "ztf_prv_candidate": None, "stream_positions": ("topic", "partition", "next_offset"),
              "stream_rejects": ("topic", "partition", "offset", "reason", "raw")}
    try:
        with engine.connect() as conn:
            out = {}
            for name, cols in wanted.items():
                table = sa.Table(name, sa.MetaData(), autoload_with=conn)
                columns = [table.c[c] for c in cols] if cols else list(table.c)
                out[name] = sorted(tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                                   for r in conn.execute(sa.select(*columns)))
            return out
    finally:
        engine.dispose()


def count(url: str, sql: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()
    finally:
        engine.dispose()


def create_topic(cfg_path: Path, partitions: int = 3) -> None:
    """The night's topic, made before the consumers start (as the producer makes it each night)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    from scraper.modes.stream.consumer import topic_of

    cfg = commands.settings(str(cfg_path), "stream")
    topic = topic_of(cfg)
    admin = AdminClient({"bootstrap.servers": cfg.brokers})  # referenced until the answer came
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
