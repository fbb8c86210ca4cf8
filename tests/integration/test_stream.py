"""mode = stream against a real broker (Tansu) and real targets: exactly once, replays, bad input."""
from __future__ import annotations

import io
import json
import logging
from datetime import datetime, timedelta

import fastavro
import pytest
from confluent_kafka import Producer

from scraper import commands
from scraper.core import wallclock
from scraper.modes.stream.consumer import topic_of
from stream_support import broker, cli, contents, count, run, write_cfg  # noqa: F401 - fixture

ALERTS = 300


def test_a_night_with_its_replay_is_ingested_once_on_every_backend(dbs, broker):
    path = write_cfg(dbs.tmp_path / "s.cfg", broker, dbs.target_url, alerts=ALERTS)
    made = run(path, "faker")
    assert made.alerts == ALERTS and made.replayed > 0 and made.messages == ALERTS + made.replayed
    got = run(path, "stream", catchup=True)
    assert (got.messages, got.written, got.replayed, got.rejected) == (made.messages, ALERTS, made.replayed, 0)
    assert count(dbs.target_url, "SELECT count(DISTINCT candid) FROM ztf_alert") == ALERTS
    first = contents(dbs.target_url)
    assert sum(p[2] for p in first["stream_positions"]) == made.messages
    again = run(path, "stream", catchup=True)  # restart: starts at the target's positions, reads nothing
    assert again.messages == 0 and contents(dbs.target_url) == first
    rec = cli(path, "reconcile", "-s", "stream", "--day", "2020-12-27", "--format", "json")
    assert rec.returncode == 0, rec.stderr
    result = json.loads(rec.stdout)["topics"][0]
    assert (result["messages"], result["keys"], result["in_target"], result["replays"], result["missing"]) == \
        (made.messages, ALERTS, ALERTS, made.replayed, [])


def test_reconcile_finds_keys_deleted_by_hand(sqlite_dbs, broker):
    path = write_cfg(sqlite_dbs.tmp_path / "s.cfg", broker, sqlite_dbs.target_url, alerts=60, replay_at="")
    run(path, "faker")
    run(path, "stream", catchup=True)
    engine = sqlite_dbs.engine("target")
    with engine.begin() as conn:
        gone = [r[0] for r in conn.exec_driver_sql("SELECT candid FROM ztf_alert ORDER BY candid LIMIT 2")]
        conn.exec_driver_sql(f"DELETE FROM ztf_alert WHERE candid IN ({gone[0]}, {gone[1]})")
    rec = cli(path, "reconcile", "-s", "stream", "--day", "2020-12-27")
    assert rec.returncode == 1, rec.stderr
    assert "missing keys                    2: " + " ".join(str(k) for k in sorted(gone)) in rec.stdout
    assert "rows in the target             58" in rec.stdout


def _raw_messages(cfg) -> list[tuple[int, bytes]]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    c = Consumer({"bootstrap.servers": cfg.brokers, "group.id": "raw-reader", "enable.partition.eof": True,
                  "fetch.wait.max.ms": 50})
    topic = topic_of(cfg)
    parts = c.list_topics(topic, timeout=30).topics[topic].partitions
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    out, ended = [], set()
    while len(ended) < len(parts):
        for m in c.consume(500, 0.5):
            if m.error() is None:
                out.append((m.partition(), m.value()))
            elif m.error().code() == KafkaError._PARTITION_EOF:
                ended.add(m.partition())
    c.close()
    return out


def test_a_replay_of_the_whole_topic_adds_nothing(sqlite_dbs, broker):
    path = write_cfg(sqlite_dbs.tmp_path / "s.cfg", broker, sqlite_dbs.target_url, alerts=120, replay_at="")
    run(path, "faker")
    run(path, "stream", catchup=True)
    before = contents(sqlite_dbs.target_url)
    cfg = commands.settings(str(path), "stream")
    raw = _raw_messages(cfg)
    p = Producer({"bootstrap.servers": broker.address})
    for partition, value in raw:
        p.produce(topic_of(cfg), value=value, partition=partition)
    assert p.flush(30) == 0
    got = run(path, "stream", catchup=True)
    assert (got.messages, got.written, got.replayed) == (len(raw), 0, len(raw))
    after = contents(sqlite_dbs.target_url)
    assert after["ztf_alert"] == before["ztf_alert"] and after["ztf_prv_candidate"] == before["ztf_prv_candidate"]


def _container(schema: dict, record: dict) -> bytes:
    buf = io.BytesIO()
    fastavro.writer(buf, fastavro.parse_schema(schema), [record])
    return buf.getvalue()


def test_bad_messages_are_kept_in_stream_rejects_and_the_section_goes_on(dbs, broker):
    path = write_cfg(dbs.tmp_path / "s.cfg", broker, dbs.target_url, alerts=30, replay_at="",
                     faker={"faker_partitions": 1})
    run(path, "faker")
    cfg = commands.settings(str(path), "stream")
    no_candid = {"type": "record", "name": "alert", "namespace": "ztf",
                 "fields": [{"name": "objectId", "type": "string"}]}
    bad = [b"\x00\x01 not avro at all", _container(no_candid, {"objectId": "ZTF20aaaaaaa"}), b""]
    p = Producer({"bootstrap.servers": broker.address})
    for value in bad:
        p.produce(topic_of(cfg), value=value, partition=0)
    assert p.flush(30) == 0
    made = run(path, "faker", )  # more good alerts after the bad ones (a second night's run, new candids)
    got = run(path, "stream", catchup=True)
    assert got.rejected == 3
    rejects = contents(dbs.target_url)["stream_rejects"]
    assert [r[2] for r in rejects] == [30, 31, 32]  # offsets, partition 0
    reasons = [r[3] for r in rejects]
    assert reasons[0].startswith("not an Avro container") and reasons[1] == "no key field candid" \
        and reasons[2] == "empty message"
    assert bytes(rejects[0][4]) == bad[0]
    assert got.written + got.replayed == 30 + made.alerts


def _dated(raw: bytes, candid: int, jd: float) -> bytes:
    """A real alert of the topic made into another one: a new candid, observed at `jd`."""
    reader = fastavro.reader(io.BytesIO(raw))
    alert = next(reader)
    alert["candid"] = alert["candidate"]["candid"] = candid
    alert["candidate"]["jd"] = jd
    return _container(reader.writer_schema, alert)


def _jd(t) -> float:
    return 2451545.0 + (t - datetime(2000, 1, 1, 12)).total_seconds() / 86400


def test_alerts_dated_a_day_ahead_are_rejected_until_the_clock_reaches_them(dbs, broker, caplog, monkeypatch):
    path = write_cfg(dbs.tmp_path / "s.cfg", broker, dbs.target_url, alerts=30, replay_at="",
                     faker={"faker_partitions": 1})
    run(path, "faker")
    cfg = commands.settings(str(path), "stream")
    _part, sample = _raw_messages(cfg)[0]
    tomorrow = _jd(wallclock.now_utc() + timedelta(days=1))
    ahead = [9_000_000_000_000_000_000 + i for i in range(3)]
    p = Producer({"bootstrap.servers": broker.address})
    for i, candid in enumerate(ahead):
        p.produce(topic_of(cfg), value=_dated(sample, candid, tomorrow + i / 1440), partition=0)
    assert p.flush(30) == 0
    made = run(path, "faker")  # good alerts after the ones dated ahead (new candids)
    with caplog.at_level(logging.INFO, logger="scraper.stream"):
        got = run(path, "stream", catchup=True)
    assert (got.rejected, got.future) == (3, 3)
    assert got.written + got.replayed == 30 + made.alerts
    rows = contents(dbs.target_url)
    assert [r[2] for r in rows["stream_rejects"]] == [30, 31, 32]  # offsets, partition 0
    assert all(r[3].startswith("dated in the future: ") for r in rows["stream_rejects"])
    assert not {r[0] for r in rows["ztf_alert"]} & set(ahead)
    said = [r.getMessage() for r in caplog.records if "in the future" in r.getMessage()]
    assert len(said) == 1 and str(ahead[0]) in said[0], said
    st = {r.section: r for r in commands.status(str(path))}["stream"]
    assert st.health == "WARNING" and "3 messages rejected as dated in the future" in st.note, st.note
    engine = dbs.engine("target")
    with engine.begin() as conn:  # read the topic again, with the clock two days on
        conn.exec_driver_sql("DELETE FROM stream_positions")
        conn.exec_driver_sql("DELETE FROM stream_rejects")
    real = wallclock.now_utc()
    monkeypatch.setattr(wallclock, "now_utc", lambda: real + timedelta(days=2))
    again = run(path, "stream", catchup=True)
    assert (again.rejected, again.future, again.written) == (0, 0, 3)
    assert set(ahead) <= {r[0] for r in contents(dbs.target_url)["ztf_alert"]}


def test_status_shows_a_stream_sections_lag_replays_and_rejects(sqlite_dbs, broker):
    path = write_cfg(sqlite_dbs.tmp_path / "s.cfg", broker, sqlite_dbs.target_url, alerts=80)
    made = run(path, "faker")
    run(path, "stream", catchup=True)
    rows = {r.section: r for r in commands.status(str(path))}
    assert rows["stream"].health == "OK", rows["stream"].note
    assert f"replayed {made.replayed}, rejected 0" in rows["stream"].note
    assert "behind 0 messages (p0 0, p1 0, p2 0)" in rows["stream"].note
    assert rows["faker"].note.startswith("writes t")


@pytest.mark.parametrize("keys,key,says", [
    ({"brokers": ""}, "brokers", "is required by mode = stream"),
    ({"format": "protobuf"}, "format", '"protobuf" is not one of avro, json'),
    ({"schema": "missing.avsc"}, "schema", "cannot read"),
    ({"regime": "regimes.adtemp:AdTemp"}, "regime", "is not a stream regime"),
    ({"source": "sqlite:///x.db"}, "source", "is not used by mode stream"),
])
def test_a_stream_sections_mistakes_are_one_line_and_exit_2(tmp_path, broker, keys, key, says):
    path = write_cfg(tmp_path / "s.cfg", broker, f"sqlite:///{tmp_path / 't.db'}", stream=keys)
    text = path.read_text()
    for name in keys:  # the override replaces the line write_cfg wrote, if any
        text = "\n".join(line for line in text.splitlines()
                         if not (line.startswith(f"{name} = ") and line != f"{name} = {keys[name]}"))
    path.write_text(text + "\n")
    proc = cli(path, "-s", "stream", "--catchup")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"[stream] {key}: " in lines[0] and says in lines[0], proc.stderr
