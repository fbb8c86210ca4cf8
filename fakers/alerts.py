"""mode = stream_faker: a night of ZTF-like Avro alerts into a Kafka topic, and the producer's replay.

Alerts carry the field names and nesting of ZTF's public alert schema (regimes/ztf_schema/: a
`candidate` record, a `prv_candidates` array of the object's earlier detections, small cutouts
`cutoutScience/Template/Difference` with `stampData` bytes, `fp_hists` from 4.02 on), each message an
Avro container file with its writer's schema, cycling through `faker_versions`. The night has a
cadence: an exposure every 30-40 s, most yielding a few alerts and some a burst of many. At
`faker_replay_at` (the seed's 10:00) the producer sends everything produced so far once more, as
ZTF's did. Alerts are produced as fast as the broker takes them; their times are in `jd`.
"""
from __future__ import annotations

import io
import json
import logging
import random
import string
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Iterator

import fastavro

from scraper.config import Settings
from scraper.config.keys import Key
from scraper.modes.stream import BROKERS, NIGHT, TOPIC
from scraper.runtime.runner import RunOptions

log = logging.getLogger("scraper.faker")
JD_UNIX0 = 2440587.5  # julian date of 1970-01-01 00:00 UTC
CANDID0 = 1_450_000_000_000_000_000
NIGHT_CANDIDS = 10 ** 12  # candids of one night (seq * 1000 + a draw) stay below this

KEYS = [
    BROKERS, TOPIC, NIGHT,
    Key("faker_alerts", "integer(min=1)", 2000, "stream_faker: alerts in the night (before any replay)"),
    Key("faker_partitions", "integer(min=1)", 4, "stream_faker: partitions of the night's topic when it is created"),
    Key("faker_versions", "names", ("3.2", "3.3", "4.02"), "stream_faker: alert schema versions, used in turn"),
    Key("faker_night_from", "text", "03:00", "stream_faker: UTC time of the night's first exposure (HH:MM)"),
    Key("faker_night_to", "text", "12:00", "stream_faker: UTC time of the night's last exposure (HH:MM)"),
    Key("faker_replay_at", "text", "", "stream_faker: time of day (HH:MM) when the producer sends the whole night "
        "produced so far again; empty: no replay"),
    Key("faker_cutout_bytes", "integer(min=1)", 64, "stream_faker: bytes of stampData per cutout"),
    Key("faker_seed", "integer(min=0)", 1, "stream_faker: seed of the night's random draws"),
]
USES = ()
READS_SOURCE = False  # a broker, no source database: no `source` or `source_tz` key
VERSIONS = ("3.2", "3.3", "4.02")


def stream_regime(cfg: Settings):
    """The section names the stream regime whose messages it fakes (regimes.ztf:Ztf)."""
    from scraper.modes.stream.regime import load_stream_regime

    return load_stream_regime(cfg)


def _clock(cfg: Settings, key: str) -> time | None:
    raw = cfg.get(key) or ""
    if not raw:
        return None
    try:
        return time.fromisoformat(raw)
    except ValueError:
        raise cfg.error(key, f'"{raw}" is not a time of day HH:MM') from None


def validate(cfg: Settings, regime) -> None:
    for name in ("brokers", "topic"):
        if not cfg.get(name):
            raise cfg.error(name, "is required by mode = stream_faker")
    bad = [v for v in cfg.faker_versions if v not in VERSIONS]
    if bad:
        raise cfg.error("faker_versions", f"unknown schema version {bad[0]} (known: {', '.join(VERSIONS)})")
    if _clock(cfg, "faker_night_to") <= _clock(cfg, "faker_night_from"):
        raise cfg.error("faker_night_to", "is not after faker_night_from")
    _clock(cfg, "faker_replay_at")


def schema(version: str) -> dict:
    from regimes.ztf import SCHEMAS

    return fastavro.parse_schema(json.loads((SCHEMAS / f"alert_{version}.avsc").read_text()))


@dataclass
class Night:
    """The night's alerts in time order: (jd, alert dict, schema version)."""

    cfg: Settings
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.cfg.faker_seed)

    def exposures(self, day: datetime) -> list[datetime]:
        t = datetime.combine(day.date(), _clock(self.cfg, "faker_night_from"))
        end = datetime.combine(day.date(), _clock(self.cfg, "faker_night_to"))
        out = []
        while t <= end:
            out.append(t)
            t += timedelta(seconds=self.rng.uniform(30, 40))
        return out

    def alerts(self, day: datetime) -> Iterator[tuple[datetime, dict, str]]:
        rng, n = self.rng, self.cfg.faker_alerts
        shots = self.exposures(day)
        weights = [rng.expovariate(1.0) * (25 if rng.random() < 0.05 else 1) for _ in shots]  # bursts
        total = sum(weights)
        counts = [int(w / total * n) for w in weights]
        for i in rng.sample(range(len(shots)), n - sum(counts)) if n > sum(counts) else ():
            counts[i] += 1
        objects = [_object_id(rng, day) for _ in range(max(n // 3, 1))]
        history: dict[str, list[dict]] = {}
        seq, versions = 0, self.cfg.faker_versions
        night_no = (day.date() - date(2017, 1, 1)).days  # as ZTF's candid begins with its night: nights never share one
        for shot, count in zip(shots, counts):
            fid = rng.choice((1, 2))
            seen = rng.sample(objects, min(count, len(objects)))  # an exposure sees an object once
            for i in range(count):
                version = versions[seq % len(versions)]
                obj = seen[i % len(seen)]
                jd = JD_UNIX0 + (shot.timestamp() - datetime(1970, 1, 1).timestamp()) / 86400
                candid = CANDID0 + night_no * NIGHT_CANDIDS + seq * 1000 + rng.randrange(1000)
                cand = _candidate(rng, candid, jd, fid, version)
                alert = {"schemavsn": version, "publisher": "ZTF (www.ztf.caltech.edu)", "objectId": obj,
                         "candid": candid, "candidate": cand,
                         "prv_candidates": [_as_prv(p) for p in history.get(obj, [])[-20:]]
                         + [_upper_limit(rng, jd - rng.uniform(1, 5), fid)],
                         **{f"cutout{kind}": {"fileName": f"candid{candid}_{kind.lower()}.fits.gz",
                                               "stampData": rng.randbytes(self.cfg.faker_cutout_bytes)}
                            for kind in ("Science", "Template", "Difference")}}
                if version == "4.02":
                    alert["fp_hists"] = [_fp_hist(rng, jd - rng.uniform(1, 30), fid, cand)]
                history.setdefault(obj, []).append(cand)
                seq += 1
                yield shot, alert, version


def _object_id(rng: random.Random, day: datetime) -> str:
    return f"ZTF{day:%y}" + "".join(rng.choice(string.ascii_lowercase) for _ in range(7))


def _candidate(rng: random.Random, candid: int, jd: float, fid: int, version: str) -> dict[str, Any]:
    ra, dec = rng.uniform(0, 360), rng.uniform(-30, 90)
    c = {"jd": jd, "fid": fid, "pid": candid // 1000, "diffmaglim": round(rng.uniform(19.5, 21), 3),
         "programpi": "Kulkarni", "programid": 1, "candid": candid, "isdiffpos": rng.choice("tf"),
         "nid": 1450, "rcid": rng.randrange(64), "field": rng.randrange(250, 900), "xpos": rng.uniform(0, 3072),
         "ypos": rng.uniform(0, 3080), "ra": ra, "dec": dec, "magpsf": round(rng.uniform(15, 20.5), 4),
         "sigmapsf": round(rng.uniform(0.02, 0.2), 4), "fwhm": round(rng.uniform(1.5, 4), 3),
         "rb": round(rng.random(), 4), "ranr": ra, "decnr": dec, "ndethist": rng.randrange(1, 30),
         "ncovhist": rng.randrange(30, 300), "rbversion": "t17_f5_c3"}
    if version != "3.2":
        c.update(drb=round(rng.random(), 4), drbversion="d6_m7")
    return c


def _as_prv(c: dict) -> dict:
    keep = ("jd", "fid", "pid", "diffmaglim", "programpi", "programid", "candid", "isdiffpos", "nid", "rcid",
            "field", "xpos", "ypos", "ra", "dec", "magpsf", "sigmapsf", "fwhm", "rb", "ranr", "decnr", "rbversion")
    return {k: c.get(k) for k in keep}


def _upper_limit(rng: random.Random, jd: float, fid: int) -> dict:
    return {"jd": jd, "fid": fid, "pid": rng.randrange(10**12), "diffmaglim": round(rng.uniform(19, 20.5), 3),
            "programid": 1, "rbversion": "t17_f5_c3"}


def _fp_hist(rng: random.Random, jd: float, fid: int, c: dict) -> dict:
    return {"fid": fid, "pid": rng.randrange(10**12), "rfid": rng.randrange(10**8), "programid": 1, "jd": jd,
            "forcediffimflux": rng.gauss(0, 50), "forcediffimfluxunc": abs(rng.gauss(30, 5)),
            "procstatus": "0", "ranr": c["ra"], "decnr": c["dec"]}


def encode(alert: dict, parsed: dict) -> bytes:
    """One message: an Avro container file with the writer's schema, as ZTF sends alerts."""
    buf = io.BytesIO()
    fastavro.writer(buf, parsed, [alert])
    return buf.getvalue()


@dataclass
class AlertsSummary:
    section: str
    topic: str = ""
    alerts: int = 0
    messages: int = 0
    replayed: int = 0
    replay_at: str = ""
    first: datetime | None = None
    last: datetime | None = None
    versions: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        span = f"{self.first:%Y-%m-%d %H:%M} .. {self.last:%H:%M} UTC" if self.first else "nothing"
        replay = f", replayed at {self.replay_at}: {self.replayed}" if self.replay_at else ""
        versions = ", ".join(f"{v} {n}" for v, n in self.versions.items())
        return (f"[{self.section}] alerts {self.alerts} over {span} into {self.topic}{replay}; "
                f"messages {self.messages}; schema versions {versions}")


def run(cfg: Settings, options: RunOptions) -> AlertsSummary:
    from confluent_kafka import KafkaError, KafkaException, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    from scraper.modes.stream.consumer import client_config, topic_of

    topic = topic_of(cfg)
    day = cfg.get("night") or datetime.utcnow()
    summary = AlertsSummary(cfg.section, topic, replay_at=cfg.faker_replay_at)
    admin = AdminClient(client_config(cfg))
    try:
        admin.create_topics([NewTopic(topic, cfg.faker_partitions, 1)])[topic].result(timeout=30)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise cfg.error("brokers", f"cannot create topic {topic} on {cfg.brokers}: {exc.args[0].str()}") from None
    producer = Producer({**client_config(cfg), "linger.ms": 20, "message.max.bytes": 10_000_000})
    parsed = {v: schema(v) for v in cfg.faker_versions}
    replay_at = _clock(cfg, "faker_replay_at")
    replay_time = datetime.combine(day.date(), replay_at) if replay_at else None
    sent: list[tuple[bytes, bytes, int]] = []
    stop = options.stop

    def send(value: bytes, key: bytes, partition: int) -> None:
        while True:
            try:
                producer.produce(topic, value=value, key=key, partition=partition)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
        summary.messages += 1

    def replay() -> None:
        log.info("replaying the %d alerts of the night so far (%s)", len(sent), cfg.faker_replay_at)
        for value, key, partition in sent:
            send(value, key, partition)
        summary.replayed += len(sent)

    for when, alert, version in Night(cfg).alerts(day):
        if stop is not None and stop.is_set():
            break
        if replay_time is not None and when >= replay_time and not summary.replayed:
            replay()
        key = alert["objectId"].encode()
        msg = (encode(alert, parsed[version]), key, zlib.crc32(key) % cfg.faker_partitions)
        send(*msg)
        if replay_time is not None:
            sent.append(msg)
        summary.alerts += 1
        summary.versions[version] = summary.versions.get(version, 0) + 1
        summary.first = summary.first or when
        summary.last = when
    if replay_time is not None and not summary.replayed and not (stop is not None and stop.is_set()):
        replay()
    left = producer.flush(60)
    if left:
        raise cfg.error("brokers", f"{left} messages not delivered to {cfg.brokers} within 60 s")
    return summary


def status(cfg: Settings, st, now) -> None:
    """`scr.py status`: a faker has nothing to lag behind; say where it writes."""
    from scraper.modes.stream.consumer import topic_of

    st.note = f"writes {topic_of(cfg)} on {cfg.brokers}"
