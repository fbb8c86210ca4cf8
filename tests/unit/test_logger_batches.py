"""A logger batch is checked whole: the rules a regime author relies on, message by message."""
from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from scraper.modes.logger.api import Topic
from scraper.modes.logger.batches import Refused, check, unix_time

TOPICS = {t.name: t for t in [Topic("mmr3", identity=("channel",), channel=int, R=float, T=float, note=str, on=bool)]}
T0 = 1_700_000_000


def message(**over):
    return {"topic": "mmr3", "timestamp": T0, "channel": 1, "R": 1000.5, "T": 0.01, **over}


@pytest.mark.parametrize("stamp, expected", [
    (T0, T0), (T0 + 0.25, T0 + 0.25), ("2023-11-14T22:13:20Z", T0), ("2023-11-14T22:13:20", T0),
    ("2023-11-14T23:13:20+01:00", T0), ("2023-11-14T22:13:20.5Z", T0 + 0.5),
    (datetime(2023, 11, 14, 22, 13, 20), T0), (datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc), T0),
])
def test_timestamps_in_every_form_become_utc_unix_seconds_integers_when_whole(stamp, expected):
    t = unix_time(stamp)
    assert t == expected and isinstance(t, int) == (expected == int(expected))


def test_a_good_batch_gives_one_row_per_message_with_unset_fields_null():
    batch = check("dev", [message(), message(channel=2, R=7)], TOPICS)
    rows = batch.rows["mmr3"]
    assert batch.readings == 2
    assert rows[0] == (T0, 1, 1000.5, 0.01, None, None)  # time, then the fields in declared order
    assert rows[1][2] == 7.0 and isinstance(rows[1][2], float)


@pytest.mark.parametrize("bad, reason", [
    ({"topic": None}, 'topic "None" is not declared'),
    ({"T": "0.01"}, "field T = '0.01' is not a number"),
    ({"T": math.nan}, "field T = nan is not a finite number"),
    ({"channel": 1.0}, "field channel = 1.0 is not an integer"),
    ({"channel": True}, "field channel = True is not an integer"),
    ({"channel": None}, "identity field channel is missing"),
    ({"on": 1}, "field on = 1 is not true/false"),
    ({"note": 3}, "field note = 3 is not text"),
    ({"extra": 1}, "field extra is not declared for topic mmr3"),
    ({"timestamp": "yesterday"}, 'timestamp "yesterday" is not an ISO time'),
    ({"timestamp": 0}, "is not a time after 1970"),
])
def test_one_bad_message_refuses_the_whole_batch_naming_it(bad, reason):
    with pytest.raises(Refused) as exc:
        check("dev", [message(), message(**{"channel": 2, **bad}), message(channel=3)], TOPICS)
    assert str(exc.value).startswith("message 1 ") and reason in str(exc.value)


def test_a_message_without_topic_or_timestamp_refuses_the_batch():
    m = message()
    del m["timestamp"]
    with pytest.raises(Refused, match="message 0 has no timestamp"):
        check("dev", [m], TOPICS)
    with pytest.raises(Refused, match="message 0 has no topic"):
        check("dev", [{"timestamp": T0}], TOPICS)


def test_time_from_receipt_replaces_every_message_time_and_needs_none():
    m = message()
    del m["timestamp"]
    batch = check("dev", [m, message(timestamp="2099-01-01T00:00:00Z")], TOPICS, received=T0 + 0.125)
    assert [r[0] for r in batch.rows["mmr3"]] == [T0 + 0.125, T0 + 0.125]


def test_a_topic_refuses_unknown_types_and_identity_fields_it_does_not_declare():
    with pytest.raises(TypeError):
        Topic("x", v=complex)
    with pytest.raises(TypeError):
        Topic("x", identity=("channel",), v=float)
