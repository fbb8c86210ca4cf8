"""The spool checks every record once per process: a record that fails its checksum is never sent,
whether open() found it or another writer appended it after open(); what this process appended is sent."""
from __future__ import annotations

import json
import logging

import pytest

from scraper.modes.logger.api import Topic
from scraper.modes.logger.batches import check
from scraper.modes.logger.spool import Spool, encode


def record(n: int) -> dict:
    return {"source": "t", "rows": {"mmr3": [[1_700_000_000 + n, 1, float(n), 0.5]]}, "readings": 1}


def sent(spool: Spool) -> list[float]:
    return [row[2] for chunk in spool.chunks(1000) for (table, _c), rows in chunk.rows.items() for row in rows
            if table == "mmr3"]


def test_a_corrupt_record_found_at_open_is_skipped_and_the_rest_drained_in_order(tmp_path, caplog):
    path = tmp_path / "s.spool"
    lines = [encode(record(n)) for n in range(4)]
    lines[1] = lines[1].replace(b"1.0,0.5", b"9.0,0.5")  # a flipped byte: its checksum no longer matches
    path.write_bytes(b"".join(lines))
    spool = Spool(path, 100)
    with caplog.at_level(logging.WARNING, "scraper.logger"):
        spool.open()
    assert spool.corrupt == 1 and spool.records == 3 and "fails its checksum" in caplog.text
    spool.append(record(4))
    assert sent(spool) == [0.0, 2.0, 3.0, 4.0]


def test_a_bad_record_appended_by_another_writer_after_open_is_not_sent(tmp_path):
    path = tmp_path / "s.spool"
    spool = Spool(path, 100)
    spool.open()
    spool.append(record(0))
    with open(path, "ab") as f:  # another process's append, cut and mangled
        f.write(encode(record(1)).replace(b"1.0,0.5", b"7.0,0.5"))
    other = encode(record(2))
    with open(path, "ab") as f:  # a good one from the other writer
        f.write(other)
    spool.append(record(3))  # after the others: not trusted blindly, checked like them
    assert sent(spool) == [0.0, 2.0, 3.0]


MMR3 = Topic("mmr3", identity=("channel",), channel=int, R=float, T=float)
HEAT = Topic("heat", identity=("channel",), channel=str, rms=float)


def test_records_of_format_1_and_2_one_topic_or_several_drain_to_the_same_rows(tmp_path):
    """A spool written by the previous version (format 1) is drained by this one beside new records;
    a poll of several topics keeps each topic's rows apart; a record without rows adds nothing."""
    topics = {"mmr3": MMR3, "heat": HEAT}
    one = check("d", [{"topic": "mmr3", "timestamp": 1_700_000_001, "channel": 1, "R": 1.5, "T": 0.25}], topics)
    two = check("d", [{"topic": "mmr3", "timestamp": 1_700_000_002, "channel": 2, "R": 2.5, "T": None},
                      {"topic": "heat", "timestamp": 1_700_000_002.5, "channel": "a\\\"r\":[", "rms": 1e-05}],
                topics)
    assert one.as_record()["v"] == 2 and "topics" in two.as_record()
    path = tmp_path / "s.spool"
    path.write_bytes(encode(record(0)) + encode(one.as_record()) + encode(two.as_record())
                     + encode({"v": 2, "source": "d", "readings": 0, "t": "mmr3", "c": ["time", "channel", "R", "T"],
                               "r": []}))
    spool = Spool(path, 100)
    spool.open()
    (chunk,) = spool.chunks(1000)
    assert chunk.records == 4 and chunk.readings == 4
    cols = ("time", "channel", "R", "T")
    assert sorted(map(tuple, chunk.rows[("mmr3", None)])) == [(1_700_000_000, 1, 0.0, 0.5)]
    assert sorted(map(tuple, chunk.rows[("mmr3", cols)])) == [(1_700_000_001, 1, 1.5, 0.25),
                                                               (1_700_000_002, 2, 2.5, None)]
    assert chunk.rows[("heat", ("time", "channel", "rms"))] == [[1_700_000_002.5, 'a\\"r":[', 1e-05]]
    (raw,) = spool.chunks(1000, raw=True)  # one-topic records' rows as one JSON array, joined with the others
    assert sorted(map(tuple, raw.rows[("mmr3", cols)])) == sorted(map(tuple, chunk.rows[("mmr3", cols)]))
    path.write_bytes(encode(one.as_record()))
    (raw,) = Spool(path, 100).chunks(1000, raw=True)
    assert json.loads(raw.rows[("mmr3", cols)]) == [[1_700_000_001, 1, 1.5, 0.25]]


def test_a_record_spooled_before_the_regime_changed_its_fields_is_written_by_column_name(tmp_path):
    from scraper.modes.logger.store import Store, topic_table

    class Cfg:
        section = "s"

    store = Store(Cfg(), [Topic("mmr3", identity=("channel",), channel=int, T=float, R=float, extra=str)])
    store.tables["mmr3"] = topic_table(store.md, store.topics[0], "sqlite")  # what connect() declares
    rows = store.aligned({("mmr3", ("time", "channel", "R", "T")): [[1, 2, 3.0, 4.0]]})
    assert rows == ({"mmr3": [[1, 2, 4.0, 3.0, None]]}, {})
    same = ("time", "channel", "T", "R", "extra")  # SQLite parses those rows itself; the others are decoded
    rows = store.aligned({("mmr3", same): b"[[1,2,3.0,4.0,null]]", ("mmr3", ("time", "channel")): b"[[5,6]]"})
    assert rows == ({"mmr3": [[5, 6, None, None, None]]}, {"mmr3": [b"[[1,2,3.0,4.0,null]]"]})
    with pytest.raises(ValueError, match="gone"):
        store.aligned({("mmr3", ("time", "channel", "gone")): [[1, 2, 3.0]]})
    with pytest.raises(ValueError, match="no longer declared"):
        store.aligned({("other", None): [[1]]})
