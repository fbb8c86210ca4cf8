"""mode = stream: messages from a Kafka topic into the target, exactly once (docs/streams.md).

regime.py is the stream regime API, decode.py turns bytes into messages, consumer.py is the Kafka
side (seeking to the target's positions), ledger.py the one transaction of rows, rejects and
positions, store.py the optional message files, mode.py the runner's Job, reconcile.py the
`scr.py reconcile` verb, health.py `scr.py status`, broker.py a throwaway broker for tests and demo.
"""
from __future__ import annotations

from datetime import timedelta

from scraper.config import Settings
from scraper.config.keys import Key
from scraper.runtime.runner import RunOptions

BROKERS = Key("brokers", "text", "", "stream: Kafka bootstrap servers, host:port[,host:port...]")
TOPIC = Key("topic", "text", "",
            "stream: Kafka topic; strftime fields make a topic per night (docs/streams.md)")
NIGHT = Key("night", "optional_time", None,
            "stream: the date that fills the topic's strftime fields; empty: the wall clock's UTC date, "
            "a new topic each midnight")
KEYS = [
    BROKERS, TOPIC, NIGHT,
    Key("consumer_group", "text", "", "stream: Kafka consumer group shared by the section's processes; "
        "empty: scraper-<section>"),
    Key("format", "choice(avro, json)", "avro",
        "stream: avro (each message an Avro container file with its writer's schema; schemaless with "
        "`schema`) or json (one JSON object per message)"),
    Key("schema", "text", "", "stream: .avsc file of schemaless Avro messages (relative to the config file); "
        "empty: messages carry their schema"),
    Key("start", "choice(earliest, latest)", "earliest",
        "stream: where a partition the target has never seen starts"),
    Key("store", "text", "", "stream: directory where each message is also kept as <key>.avro; empty: none"),
    Key("session_timeout", "positive_duration", timedelta(seconds=6),
        "stream: how long the broker waits for a silent process of the group (killed, frozen) before its "
        "partitions go to the others, and a restart after a crash waits to join"),
]
# No section lease (runtime/lease.py), unlike every other writing mode: the processes of a stream section
# are meant to run side by side, sharing the topic's partitions through their consumer group, and the
# broker gives each partition one owner at a time. A member that lost a partition while frozen cannot
# double anything when it wakes: rows are unique on the message key and a partition's position only
# moves forward, in the same transaction as the rows (ledger.py).
USES = ("target", "maxiter", "batch")
READS_SOURCE = False  # a broker, no source database: no `source` or `source_tz` key


def stream_regime(cfg: Settings):
    """A stream section names a StreamRegime, not a table regime."""
    from .regime import load_stream_regime

    return load_stream_regime(cfg)


def validate(cfg: Settings, regime) -> None:
    from .decode import read_schema

    for name in ("brokers", "topic"):
        if not cfg.get(name):
            raise cfg.error(name, "is required by mode = stream")
    if cfg.schema:
        if cfg.format != "avro":
            raise cfg.error("schema", "is for format = avro (schemaless Avro messages)")
        read_schema(cfg)


def status(cfg: Settings, st, now) -> None:
    from .health import section_health

    section_health(cfg, st, now)


def run(cfg: Settings, options: RunOptions):
    from .mode import stream

    return stream(cfg, options)
