"""A batch (one poll, one file) checked whole before anything of it is written.

The founding logger's `insert(messages)` refused the whole list when one message lacked `topic` or
`timestamp`: half a poll in the target looks like a channel that stopped, which is worse than a
missing poll. Here every message is checked against its topic's declared fields and types first; one
bad message refuses the batch (`Refused`, with the reason), and the mode keeps the batch aside.

Times become UTC unix seconds, the `time` column of the bridge's layout: an int when whole (SQLite's
INTEGER affinity and Grafana read both), a float otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from dateutil import parser as dateparser

from .api import Topic

MANDATORY = ("topic", "timestamp")


class Refused(ValueError):
    """The batch cannot be written: the reason names the message (its index) and what is wrong."""


@dataclass
class Batch:
    """Rows per topic table, ready for the target: tuples (time, *the topic's fields in their declared
    order), the table's column order; `readings` counts the messages they came from."""

    source: str
    rows: dict[str, list[tuple]] = field(default_factory=dict)
    readings: int = 0
    ledger: dict[str, Any] | None = None  # a file's ledger row, written in the same transaction
    columns: dict[str, list[str]] = field(default_factory=dict)  # topic -> its rows' column names
    arrays: dict[str, list[bytes]] = field(default_factory=dict)  # table -> spooled rows as JSON arrays

    def as_record(self) -> dict[str, Any]:
        """The spool record's body (format 2): the rows as arrays under their column names, named
        once per topic. A one-topic batch (a poll, usually) is flat, its rows last: a drain takes
        them out of the line without decoding the record (spool.py)."""
        parts = [{"t": topic, "c": self.columns.get(topic), "r": rows} for topic, rows in self.rows.items()]
        head = {"v": 2, "source": self.source, "readings": self.readings}
        return {**head, **parts[0]} if len(parts) == 1 else {**head, "topics": parts}


def unix_time(value: Any) -> float | int:
    """A message's timestamp as UTC unix seconds: a number (unix seconds), an ISO text (UTC when it
    names no zone) or a datetime (UTC when naive)."""
    if isinstance(value, bool):
        raise ValueError(f"timestamp {value!r} is not a time")
    if isinstance(value, (int, float)):
        t = float(value)
    elif isinstance(value, str):
        try:  # the standard library's parser first: 30x faster than dateutil's on the usual forms
            dt = datetime.fromisoformat(value)
        except ValueError:
            try:
                dt = dateparser.isoparse(value)
            except (ValueError, OverflowError):
                raise ValueError(f'timestamp "{value}" is not an ISO time') from None
        t = _epoch(dt)
    elif isinstance(value, datetime):
        t = _epoch(value)
    else:
        raise ValueError(f"timestamp {value!r} is not a time")
    if not math.isfinite(t) or t <= 0:
        raise ValueError(f"timestamp {value!r} is not a time after 1970")
    return int(t) if t == int(t) else t


def _epoch(dt: datetime) -> float:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _value(topic: Topic, name: str, value: Any) -> Any:
    typ = topic.fields.get(name)
    if typ is None:
        raise ValueError(f"field {name} is not declared for topic {topic.name}")
    if value is None:
        if name in topic.identity:
            raise ValueError(f"identity field {name} is missing")
        return None
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"field {name} = {value!r:.40} is not a number")
        if not math.isfinite(value):
            raise ValueError(f"field {name} = {value!r} is not a finite number")
        return float(value)
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"field {name} = {value!r:.40} is not an integer")
        return value
    if typ is bool:
        if not isinstance(value, bool):
            raise ValueError(f"field {name} = {value!r:.40} is not true/false")
        return int(value)
    if not isinstance(value, str):
        raise ValueError(f"field {name} = {value!r:.40} is not text")
    return value


def check(source: str, messages: Iterable[Any], topics: Mapping[str, Topic],
          received: float | None = None) -> Batch:
    """The batch's rows, or Refused naming the first bad message. `received` (time_from = receipt):
    the reply's arrival, which replaces every message's own timestamp.

    A value already of its declared type (a float that is finite, a str) is taken as it is; anything
    else goes through `_value`, which converts or refuses it: the common case costs a type test per
    value, not a call (a file of 20 records was mostly this loop, bench/)."""
    batch = Batch(source)
    slots: dict[str, tuple[dict[str, int], list[Any], list[int]]] = {}
    isfinite = math.isfinite
    for i, message in enumerate(messages):
        try:
            if not isinstance(message, dict):
                raise ValueError(f"is not a message but {type(message).__name__}")
            if "topic" not in message:
                raise ValueError("has no topic")
            if received is None and "timestamp" not in message:
                raise ValueError("has no timestamp")
            name = message["topic"]
            layout = slots.get(name) if isinstance(name, str) else None
            if layout is None:
                topic = topics.get(name)
                if topic is None:
                    raise ValueError(f'topic "{name}" is not declared by the regime')
                order = list(topic.fields)
                index = {f: k for k, f in enumerate(order, 1) if f not in MANDATORY}
                layout = slots[name] = (index, [topic.fields[f] for f in order],
                                        [order.index(f) + 1 for f in topic.identity])
                batch.columns[name] = ["time", *order]
            else:
                topic = topics[name]
            index, types, identity = layout
            row: list[Any] = [None] * (len(types) + 1)
            row[0] = received if received is not None else unix_time(message["timestamp"])
            for field, value in message.items():
                k = index.get(field)
                if k is None:
                    if field in MANDATORY:
                        continue
                    raise ValueError(f"field {field} is not declared for topic {topic.name}")
                typ, cls = types[k - 1], type(value)
                if cls is typ and (cls is str or (cls is float and isfinite(value))):
                    row[k] = value
                else:
                    row[k] = _value(topic, field, value)
            for k in identity:
                if row[k] is None:
                    raise ValueError(f"identity field {topic.identity[identity.index(k)]} is missing")
        except ValueError as exc:
            raise Refused(f"message {i} {exc}") from None
        batch.rows.setdefault(topic.name, []).append(tuple(row))  # time, then fields in order
        batch.readings += 1
    return batch
