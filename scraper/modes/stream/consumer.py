"""The Kafka side: a confluent-kafka consumer in the section's group that starts every partition it is
given where the TARGET says, never where the broker's committed offsets say.

On every assignment (start, and each rebalance as processes of the group come and go) the new owner
reads the positions committed with the rows and seeks there; a partition the target has never seen
starts at `start` (earliest or latest). The offsets committed to the broker are only a copy, for the
usual lag tools. librdkafka does the protocol; nothing here speaks it.

A topic per night (`topic` with strftime fields, `night` empty): the night is the UTC date of the wall
clock (scraper.core.wallclock), as ZTF names its topics. When it changes while the section runs, the
new night's topic joins the subscription and the old one stays in it until drained: every partition
of it this process holds has reported its end (a fetch's answer, not a watermark). Then it leaves. A
process that starts while the target holds positions in yesterday's topic drains that too, so a
restart after midnight loses none of the night's last alerts. Positions stay per (topic, partition).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, Message, TopicPartition

from scraper.config import Settings
from scraper.core import wallclock

log = logging.getLogger("scraper.stream")


def topic_of(cfg: Settings, day: datetime | None = None) -> str:
    """The section's topic for a night: `topic` with its strftime fields filled from `day`
    (the `night` key, else today's UTC date by the wall clock)."""
    day = day or cfg.get("night") or wallclock.now_utc()
    return day.strftime(cfg.topic)


def group_of(cfg: Settings) -> str:
    return cfg.consumer_group or f"scraper-{cfg.section}"


def client_config(cfg: Settings) -> dict:
    """librdkafka's own log (a line per reconnect attempt) is off: outages are logged once by us."""
    return {"bootstrap.servers": cfg.brokers, "client.id": f"scraper-{cfg.section}", "log_level": 0}


class Feed:
    """The section's consumer. `positions()` answers the target's positions (retried by the caller)."""

    def __init__(self, cfg: Settings, positions: Callable[[list[str]], dict[tuple[str, int], int]]):
        self.cfg, self._positions = cfg, positions
        session_ms = int(cfg.session_timeout.total_seconds() * 1000)
        self.consumer = Consumer({
            **client_config(cfg), "group.id": group_of(cfg), "enable.auto.commit": False,
            "auto.offset.reset": "earliest" if cfg.start == "earliest" else "latest",
            "enable.partition.eof": True, "fetch.wait.max.ms": 50,
            "session.timeout.ms": session_ms, "heartbeat.interval.ms": min(500, session_ms // 3),
            "topic.metadata.refresh.interval.ms": 10000,  # tonight's topic, created after we started
            "error_cb": self._on_error})
        self.topic = topic_of(cfg)
        self.live = cfg.get("night") is None  # a topic per night, following the clock
        self.draining: set[str] = set()  # earlier nights' topics still read until their end
        self.settled = False  # an assignment came since the subscription last changed
        self.assigned: set[tuple[str, int]] = set()
        self.at_end: set[tuple[str, int]] = set()
        self.next: dict[tuple[str, int], int] = {}
        self.unknown_topic = False
        self.down: str | None = None  # why the brokers cannot be reached, while they cannot
        self._said: set[int] = set()
        if self.live:
            yesterday = topic_of(cfg, wallclock.now_utc() - timedelta(days=1))
            if yesterday != self.topic and positions([yesterday]):
                self.draining.add(yesterday)  # started after midnight: finish the night it was reading
                log.info("draining %s (positions in the target) before leaving it", yesterday)
        self._subscribe()

    def topics(self) -> list[str]:
        return sorted(self.draining) + [self.topic]

    def _subscribe(self) -> None:
        self.settled = False
        self.consumer.subscribe(self.topics(), on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_revoke)

    def follow_night(self) -> None:
        """At midnight (UTC) read the new night's topic too; leave an old night's once drained."""
        if not self.live:
            return
        changed = False
        tonight = topic_of(self.cfg)
        if tonight != self.topic:
            self.draining.add(self.topic)
            log.info("new night: reading %s; %s until drained", tonight, self.topic)
            self.topic, changed = tonight, True
            self.settled = False  # an end seen before midnight is no drain: alerts may have come since
        if self.settled:
            yesterday = topic_of(self.cfg, wallclock.now_utc() - timedelta(days=1))
            for old in sorted(self.draining):
                mine = {tp for tp in self.assigned if tp[0] == old}
                # none of it here: another member (perhaps a dead one, until its session ends) holds it;
                # stay subscribed so its partitions come here if that one goes, until a night later
                if (mine and mine <= self.at_end) or old != yesterday:
                    self.draining.discard(old)
                    log.info("%s drained (%d partitions here); left", old, len(mine))
                    changed = True
        if changed:
            self._subscribe()

    def _on_error(self, err: KafkaError) -> None:
        """An outage of the brokers is logged once when it starts (and once when it ends, in poll);
        librdkafka reconnects by itself, with backoff."""
        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE):
            if self.down is None:
                log.warning("brokers %s unreachable (%s); retrying", self.cfg.brokers, err.str())
            self.down = err.str()
        else:
            log.debug("broker: %s", err.str())

    def _up(self) -> None:
        if self.down is not None:
            log.warning("brokers %s reachable again", self.cfg.brokers)
            self.down = None

    def _on_assign(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        """Every partition assigned (after each subscription change too) seeks anew, so its end must
        be reported again before an earlier night counts as drained."""
        self._up()
        self.settled = True
        stored = self._positions(sorted({p.topic for p in parts}))
        for p in parts:
            at = stored.get((p.topic, p.partition))
            p.offset = at if at is not None else (OFFSET_BEGINNING if self.cfg.start == "earliest" else OFFSET_END)
            self.assigned.add((p.topic, p.partition))
            self.at_end.discard((p.topic, p.partition))
            if at is not None:
                self.next[(p.topic, p.partition)] = at
        consumer.assign(parts)
        log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]@" + (str(p.offset) if p.offset >= 0 else
                                           self.cfg.start) for p in parts) or "nothing")

    def _on_revoke(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        self.settled = False  # a rebalance under way: only the assignment that ends it counts
        for p in parts:
            self.assigned.discard((p.topic, p.partition))
            self.at_end.discard((p.topic, p.partition))
        if parts:
            log.info("revoked %s", ", ".join(f"{p.topic}[{p.partition}]" for p in parts))

    def poll(self, count: int, timeout: float) -> list[Message]:
        """Up to `count` messages; end-of-partition and errors are noted here, not returned."""
        out = []
        for m in self.consumer.consume(count, timeout):
            self._up()
            err = m.error()
            if err is None:
                tp = (m.topic(), m.partition())
                self.at_end.discard(tp)
                out.append(m)
            elif err.code() == KafkaError._PARTITION_EOF:
                self.at_end.add((m.topic(), m.partition()))
            elif err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                self.unknown_topic = True
            elif err.code() not in self._said:  # anything else: once per kind, then counted by librdkafka
                self._said.add(err.code())
                log.warning("broker: %s", err.str())
        return out

    def caught_up(self) -> bool:
        """Every assigned partition reported its end since its last message (the fetch's own answer,
        not a watermark) — or the night's topic does not exist."""
        if not self.assigned:
            return self.unknown_topic
        return self.assigned <= self.at_end

    def committed(self, ends: dict[tuple[str, int], int]) -> None:
        """After the target committed: remember, and copy the positions to the broker for lag tools."""
        self.next.update(ends)
        try:
            self.consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in ends.items()],
                                 asynchronous=True)
        except Exception as exc:  # noqa: BLE001 - the copy is best effort; the target is the bookmark
            log.debug("broker commit (copy) failed: %s", exc)

    def behind(self) -> dict[tuple[str, int], int]:
        """Messages behind per assigned partition, from the fetches' cached high watermarks (a
        monitoring number: the watermark may trail the true end)."""
        out = {}
        for tp in sorted(self.assigned):
            try:
                _low, high = self.consumer.get_watermark_offsets(TopicPartition(*tp), cached=True)
            except Exception:  # noqa: BLE001
                continue
            if high is None or high < 0:
                continue
            out[tp] = max(high - self.next.get(tp, 0), 0)
        return out

    def close(self) -> None:
        self.consumer.close()
