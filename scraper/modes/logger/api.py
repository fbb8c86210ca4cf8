"""What a logger regime declares: its sources (Device pollers, result Folders) and its topics.

A lab device is not a database: the regime says how to ask it (`query()`) and how to read its answer
(`parse(reply) -> messages`); the mode owns the rest (polling every `sleep`, timeouts, validation,
the target, the spool). A message is a dict with `topic`, `timestamp` and fields, as the founding
experiment's DaqLogger took them; each topic names its identity fields (what tells two readings of
one instant apart, e.g. `channel`) and the type of every field, so a batch can be checked whole
before anything of it is written.

    class Mmr3(LoggerRegime):
        sources = [Mmr3Bridge()]                      # a UdpDevice subclass
        topics = [Topic("mmr3", identity=("channel",), channel=int, R=float, T=float)]
"""
from __future__ import annotations

from html.parser import HTMLParser
from typing import Any, ClassVar, Iterable

from scraper.api import Regime

TYPES: dict[type, str] = {float: "float", int: "int", str: "text", bool: "bool"}


class Topic:
    """A topic's table: named after the topic, `time` plus the declared fields, unique on `time` and
    the identity fields (so a reading sent twice — a re-read file, a re-sent spool record — is stored once)."""

    def __init__(self, name: str, identity: Iterable[str] = (), **fields: type):
        self.name = name
        self.identity = tuple(identity)
        self.fields: dict[str, type] = dict(fields)
        for f, typ in self.fields.items():
            if typ not in TYPES:
                raise TypeError(f"topic {name}: field {f} has type {typ!r}; use float, int, str or bool")
        for f in self.identity:
            if f not in self.fields:
                raise TypeError(f"topic {name}: identity field {f} is not among its fields")

    def __repr__(self) -> str:
        return f"Topic({self.name!r}, identity={self.identity})"


class Device:
    """A polled device: `query()` is what is sent, `parse(reply)` turns the answer into messages.

    `parse` may raise on a reply it cannot read (garbage): that poll is a device fault, logged once per
    spell, and nothing is written for it. With `time_from = receipt` the mode stamps every message
    with the reply's arrival (UTC) instead of the device's own clock."""

    protocol: ClassVar[str] = ""

    def query(self) -> bytes | str:
        raise NotImplementedError(f"{type(self).__name__}.query")

    def parse(self, reply: bytes) -> list[dict[str, Any]]:
        raise NotImplementedError(f"{type(self).__name__}.parse")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class UdpDevice(Device):
    """Request/reply over UDP (an iMACRT bridge): `query()` is the datagram sent to `device`."""

    protocol = "udp"


class HttpDevice(Device):
    """A status page over HTTP: `query()` is the path fetched from `device` (JSON or an HTML table)."""

    protocol = "http"


class Folder:
    """JSON result files dropped in `folder` by another program, matched by `pattern` (a regexp on the
    file name; None: the section's `pattern` key). A file holds `stream_id`, `file_ts` (UTC) and
    `records`, each record a message (`topic`, `timestamp`, fields); `stream_id` is copied into every
    record whose topic declares such a field. Override `parse` for another layout."""

    def __init__(self, pattern: str | None = None):
        self.pattern = pattern

    def parse(self, document: Any) -> list[dict[str, Any]]:
        if not isinstance(document, dict):
            raise ValueError("the file does not hold a JSON object")
        missing = [k for k in ("stream_id", "file_ts", "records") if k not in document]
        if missing:
            raise ValueError(f"the file has no {', '.join(missing)}")
        records = document["records"]
        if not isinstance(records, list):
            raise ValueError("records is not a list")
        out = []
        for record in records:
            if not isinstance(record, dict):
                raise ValueError(f"a record is not an object: {record!r:.60}")
            out.append({"stream_id": document["stream_id"], **record})
        return out

    def __repr__(self) -> str:
        return f"Folder(pattern={self.pattern!r})"


class LoggerRegime(Regime):
    """`sources`: one Device or one Folder per section; `topics`: every topic its messages may carry."""

    sources: ClassVar[list] = []
    topics: ClassVar[list[Topic]] = []
    target: ClassVar[Any] = "topics"  # the target is the topics' tables: no DBI Target to declare

    @classmethod
    def fake_file(cls, n: int) -> dict[str, Any]:
        """The n-th result file a faker section writes (mode = faker): only regimes with a Folder."""
        raise NotImplementedError(f"{cls.__name__}.fake_file")


class _Table(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th") and self.rows:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_table(page: bytes | str) -> list[list[str]]:
    """The cells of every <tr> of an HTML status page, as text: what a device's HTML page parse reads."""
    parser = _Table()
    parser.feed(page.decode("utf-8", "replace") if isinstance(page, bytes) else page)
    return [row for row in parser.rows if row]
