"""Example logger regimes after a cryogenic experiment's slow-control logger (docs/devices.md):
an MMR3-like thermometry bridge over UDP, a CryoConcept-like cryostat page over HTTP (JSON, or the
older HTML table), and the processing's JSON result files.

The bridge's protocol here is iMACRT-like request/reply: the datagram `MMR3GET` is answered by one
line, `MMR3 <ISO UTC time> <channel>:<R ohm>:<T K> ...`, one reading per channel. fakers/devices.py
emulates both devices on 127.0.0.1 for the demo and the tests.
"""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any

from scraper.modes.logger.api import Folder, HttpDevice, LoggerRegime, Topic, UdpDevice, html_table


class Mmr3Bridge(UdpDevice):
    def query(self) -> bytes:
        return b"MMR3GET"

    def parse(self, reply: bytes) -> list[dict[str, Any]]:
        head, stamp, *channels = reply.decode("ascii").split()
        if head != "MMR3" or not channels:
            raise ValueError("not an MMR3 reply")
        out = []
        for item in channels:
            channel, r, t = item.split(":")
            out.append({"topic": "mmr3", "timestamp": stamp, "channel": int(channel), "R": float(r), "T": float(t)})
        return out


class Mmr3(LoggerRegime):
    sources = [Mmr3Bridge()]
    topics = [Topic("mmr3", identity=("channel",), channel=int, R=float, T=float)]


CRYO_FIELDS = {"P1": float, "P2": float, "T_mc": float, "T_still": float, "flow": float, "pt_on": bool}


class CryoJsonPage(HttpDevice):
    def query(self) -> str:
        return "/status.json"

    def parse(self, reply: bytes) -> list[dict[str, Any]]:
        page = json.loads(reply)
        message = {"topic": "cryo", "timestamp": page["timestamp"]}
        message.update(page["pressures"])
        message.update(page["temperatures"])
        message.update({"flow": page["flow"], "pt_on": page["pt_on"]})
        return [message]


class CryoHtmlPage(HttpDevice):
    """The older status page: an HTML table of name/value rows, the first row the time."""

    def query(self) -> str:
        return "/device.htm"

    def parse(self, reply: bytes) -> list[dict[str, Any]]:
        cells = dict((row[0], row[1]) for row in html_table(reply) if len(row) >= 2)
        message: dict[str, Any] = {"topic": "cryo", "timestamp": cells.pop("timestamp")}
        for name, typ in CRYO_FIELDS.items():
            if name in cells:
                message[name] = cells[name] == "on" if typ is bool else float(cells[name])
        return [message]


class Cryo(LoggerRegime):
    sources = [CryoJsonPage()]
    topics = [Topic("cryo", **CRYO_FIELDS)]


class CryoHtml(Cryo):
    sources = [CryoHtmlPage()]


class Processing(LoggerRegime):
    """Result files `[0-9a-z]{8}.json`: `stream_id`, `file_ts` (UTC) and `records`, each record a
    message stored in the table named after its topic."""

    sources = [Folder()]
    topics = [Topic("heat_baseline", identity=("stream_id", "channel"), stream_id=str, channel=str,
                    baseline=float, rms=float),
              Topic("pulse_rate", identity=("stream_id", "channel"), stream_id=str, channel=str, rate=float)]

    @classmethod
    def fake_file(cls, n: int) -> dict[str, Any]:
        rnd = random.Random(n)
        start = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=10 * n)
        stream = f"lio{n:05d}"
        records = []
        for i in range(5):
            at = (start + timedelta(minutes=2 * i)).isoformat().replace("+00:00", "Z")
            for channel in ("ChalA", "ChalB"):
                records.append({"topic": "heat_baseline", "timestamp": at, "channel": channel,
                                "baseline": round(rnd.gauss(0.0, 1.0), 6), "rms": round(abs(rnd.gauss(2.0, 0.2)), 6)})
                records.append({"topic": "pulse_rate", "timestamp": at, "channel": channel,
                                "rate": round(abs(rnd.gauss(0.3, 0.05)), 6)})
        return {"stream_id": stream, "file_ts": (start + timedelta(minutes=10)).isoformat().replace("+00:00", "Z"),
                "records": records}
