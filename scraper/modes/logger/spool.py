"""The spool: where polled batches wait while the target is down, so that no reading is lost.

A reading from a device is gone once polled: unlike a DCS table there is no source to read again.
So while the target is away each batch is appended to a local file, one line per batch:
`<sha256> <readings> <JSON>\\n` (the checksum covers the rest), fsynced before the next poll. When
the target is back the records are sent in order; the byte offset of the first record not yet
committed is kept in `<spool>.head` (written after each commit), and the file is emptied once every
record is in. A process killed between a commit and the head's update sends those records again,
which the target's unique keys turn into nothing: a record is removed only after its rows are
committed, and never written twice.

Every record's checksum is checked once per process: `open()` checks those waiting at start-up, and
a record this process appended itself is known whole (fsynced), so a drain hashes only the others (a
record another process appended meanwhile). A record cut short (the process killed in the middle of
an append, a full disk) can only be the last: it is dropped with one log line and the spool goes on after it. `limit` bounds the readings
held: when it is reached new batches are refused (the mode counts and logs them as dropped).
"""
from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger("scraper.logger")


Group = tuple[str, "tuple[str, ...] | None"]  # (table, its rows' column names; None: the table's own order)


@dataclass
class Chunk:
    """Consecutive records, sent in one transaction: their rows per table in order, and where they end."""
    end: int                          # byte offset just after the last record
    records: int
    readings: int
    rows: dict[Group, list[list] | bytes]  # (table, columns) -> rows: lists, or one JSON array (raw)


def encode(body: dict[str, Any]) -> bytes:
    """`<sha256 of the rest> <readings> <JSON>\n`: the count readable without decoding the JSON."""
    text = f"{int(body.get('readings', 0))} ".encode() + json.dumps(body, separators=(",", ":"),
                                                                    allow_nan=False).encode()
    return hashlib.sha256(text).hexdigest().encode() + b" " + text + b"\n"


def _readings(line: bytes) -> int | None:
    """The readings of a complete line whose checksum matches, None otherwise."""
    digest, _, text = line.rstrip(b"\n").partition(b" ")
    if hashlib.sha256(text).hexdigest().encode() != digest:
        return None
    count, _, _body = text.partition(b" ")
    return int(count) if count.isdigit() else None


class Spool:
    def __init__(self, path: Path, limit: int):
        self.path, self.limit = path, limit
        self.head_path = Path(f"{path}.head")
        self.readings = 0     # readings in the records after the head
        self.records = 0
        self.corrupt = 0      # records skipped for a bad checksum (not the torn last one)
        # Bytes [verified_from, verified_to) hold records whose checksums this process has checked (open)
        # or that it wrote itself (append), except those at `bad`: a drain does not hash them again.
        self.verified_from = self.verified_to = 0
        self.bad: set[int] = set()

    # --- opening ----------------------------------------------------------------------------------
    def open(self) -> None:
        """Count what waits; drop a torn last record (one log line) so new appends start clean."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            self.path.touch()
            _fsync_dir(self.path.parent)
        head = self.head()
        good_end = head
        with open(self.path, "rb") as f:
            f.seek(head)
            offset = head
            for line in f:
                end = offset + len(line)
                count = _readings(line) if line.endswith(b"\n") else None
                if count is None and end == self._size():
                    log.warning("spool %s: the last record (bytes %d..%d) is torn (cut short while written): "
                                "dropped", self.path, offset, end)
                    break
                if count is None:
                    self.corrupt += 1
                    self.bad.add(offset)
                    log.warning("spool %s: record at byte %d fails its checksum: skipped", self.path, offset)
                else:
                    self.records += 1
                    self.readings += count
                good_end = end
                offset = end
        if good_end < self._size():
            with open(self.path, "r+b") as f:
                f.truncate(good_end)
                os.fsync(f.fileno())
        self.verified_from, self.verified_to = head, good_end

    def _size(self) -> int:
        return self.path.stat().st_size

    def head(self) -> int:
        try:
            head = int(self.head_path.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0  # no head (or a torn one): from the start; re-sent records write nothing twice
        return head if head <= self._size() else 0

    @property
    def pending(self) -> bool:
        return self.records > 0

    @property
    def full(self) -> bool:
        return self.readings >= self.limit

    # --- writing ----------------------------------------------------------------------------------
    def append(self, body: dict[str, Any]) -> bool:
        """Keep one batch, durably; False (nothing written) when the spool is full."""
        if self.full:
            return False
        line = encode(body)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
            os.fsync(fd)
            end = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if end - len(line) == self.verified_to:
            self.verified_to = end  # written by this process right after checked bytes
        self.records += 1
        self.readings += int(body.get("readings", 0))
        return True

    # --- draining ---------------------------------------------------------------------------------
    def chunks(self, rows: int, raw: bool = False) -> Iterator[Chunk]:
        """The records after the head, in order, in groups of about `rows` rows (one transaction each).
        `raw`: the rows of one-topic records stay one JSON array per table (a target that parses JSON)."""
        head = self.head()
        texts: list[bytes] = []
        count = offset = 0

        def group() -> Chunk:
            return Chunk(offset, len(texts), count, _merged(texts, raw))

        with open(self.path, "rb") as f:
            f.seek(head)
            offset = head
            verified_from, verified_to, bad = self.verified_from, self.verified_to, self.bad
            for line in f:
                start, offset = offset, offset + len(line)
                digest, _, text = line.rstrip(b"\n").partition(b" ")
                checked = verified_from <= start and offset <= verified_to and start not in bad
                if not checked and (not line.endswith(b"\n") or hashlib.sha256(text).hexdigest().encode() != digest):
                    continue  # counted and logged by open()
                n, _, body = text.partition(b" ")
                texts.append(body)
                count += int(n)
                if count >= rows:
                    yield group()
                    texts, count = [], 0
        if texts:
            yield group()

    def committed(self, chunk: Chunk) -> None:
        """Those records' rows are in the target: move the head past them; empty the spool when done."""
        self.records -= chunk.records
        self.readings -= chunk.readings
        end = chunk.end
        if end >= self._size() and self.records <= 0:
            with open(self.path, "r+b") as f:
                f.truncate(0)
                os.fsync(f.fileno())
            self.head_path.unlink(missing_ok=True)
            self.records = self.readings = 0
            self.verified_from = self.verified_to = 0
            self.bad.clear()
            return
        # Overwritten in place, not fsynced: a head lost or torn by a crash reads as 0 (or an older
        # offset), and the records re-sent from there write nothing twice. Only an optimization.
        fd = os.open(self.head_path, os.O_WRONLY | os.O_CREAT, 0o640)
        try:
            os.write(fd, f"{end:020d}\n".encode())
        finally:
            os.close(fd)


FLAT = b'{"v":2,'   # a one-topic record of format 2: {"v":2,"source":..,"readings":..,"t":..,"c":..,"r":[..]}
ROWS = b',"r":['


def _merged(texts: list[bytes], raw: bool = False) -> dict[Group, list[list] | bytes]:
    """The rows of some records' JSON bodies, per (table, columns), in order.

    A one-topic record of format 2 ends with its rows (`"r":[...]}`): the text before them (source,
    topic, columns) is the same for every poll of a device, so it is decoded once per chunk, and the
    rows of all such records of a table are decoded together as ONE JSON array, straight into the
    lists the driver takes (or, `raw`, left as that array's text for SQLite to parse): no object per
    record, no merging. Other records (several topics, or the
    format 1 of earlier versions: `{"source":..,"rows":{table: rows},"readings":..}`) are decoded
    whole, in one document. The cyclic collector is paused meanwhile: the decoder makes one small
    list per row (acyclic, freed with the chunk), and the collections they triggered cost as much as
    the decoding itself (bench/)."""
    flat: dict[Group, list[bytes]] = {}
    known: dict[bytes, Group | None] = {}
    others: list[bytes] = []
    paused = gc.isenabled()
    gc.disable()
    try:
        for text in texts:
            cut = text.find(ROWS) if text.startswith(FLAT) and text.endswith(b"]}") else -1
            key = known.get(text[:cut], False) if cut > 0 else None
            if key is False:
                key = known[text[:cut]] = _flat_group(text[:cut])
            if key is None:
                others.append(text)
            elif cut + len(ROWS) < len(text) - 2:  # a record without rows adds nothing
                flat.setdefault(key, []).append(text[cut + len(ROWS):-2])
        arrays = {key: b"[" + b",".join(parts) + b"]" for key, parts in flat.items()}
        rows: dict[Group, list[list] | bytes] = dict(arrays) if raw else {k: json.loads(a) for k, a in arrays.items()}
        bodies = json.loads(b"[" + b",".join(others) + b"]") if others else []
    finally:
        if paused:
            gc.enable()
    for body in bodies:
        if "v" not in body:  # format 1: the table's own column order
            parts = [{"t": table, "c": None, "r": more} for table, more in body["rows"].items()]
        else:
            parts = body["topics"] if "topics" in body else [body]
        for part in parts:
            key = (part["t"], tuple(part["c"]) if part.get("c") else None)
            have = rows.get(key)
            if isinstance(have, bytes):  # raw rows of the same table: decoded to join them
                have = rows[key] = json.loads(have)
            if have is not None:
                have += part["r"]
            else:
                rows[key] = part["r"]
    return rows


def _flat_group(prefix: bytes) -> Group | None:
    """(table, columns) of a one-topic record from the text before its rows; None if it is not one."""
    try:
        meta = json.loads(prefix + b"}")
    except ValueError:
        return None  # several topics: `"topics":[...` is left open before the first rows
    if not isinstance(meta, dict) or not isinstance(meta.get("t"), str):
        return None
    return meta["t"], tuple(meta["c"]) if meta.get("c") else None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pending_readings(path: Path) -> tuple[int, int]:
    """(records, readings) waiting in a spool, for `scr.py status` (reads only)."""
    if not path.exists():
        return 0, 0
    spool = Spool(path, 1)
    head = spool.head()
    records = readings = 0
    with open(path, "rb") as f:
        f.seek(head)
        for line in f:
            count = _readings(line) if line.endswith(b"\n") else None
            if count is not None:
                records += 1
                readings += count
    return records, readings
