"""The result files a processing job drops into `folder`: which are ready, reading them, and what
happens to them after their rows are committed.

There is no "newer mtime than the last file" cursor: files written in the same second share an mtime,
and a cursor would skip all but one of them. Every matching file present is a candidate each round;
the ledger in the target (its sha256) tells which content is already in. A file modified within
`settle` is still being written and waits; a file that changes while it is read waits too. Deleting
or moving a file (`done`) happens only after its transaction committed: killed in between, the next
start finds its content in the ledger and only finishes the deletion.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger("scraper.logger")
DONE = "done"


@dataclass
class Read:
    path: Path
    data: bytes
    size: int
    mtime: float
    sha256: str

    def ledger(self, rows: int) -> dict:
        return {"path": str(self.path), "size": self.size, "mtime": self.mtime, "sha256": self.sha256, "rows": rows}


class Inbox:
    def __init__(self, folder: Path, pattern: str, settle: float, done: str, rejected: Path):
        self.folder, self.pattern = folder, re.compile(pattern)
        self.settle, self.done, self.rejected = settle, done, rejected
        self._unreadable: set[Path] = set()  # logged once each

    def ready(self) -> list[Path]:
        """Matching files not modified within `settle`, oldest first (name breaks ties)."""
        now = time.time()
        found = []
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return []
        for entry in entries:
            if not self.pattern.fullmatch(entry.name):
                continue
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            if not entry.is_file() or now - st.st_mtime < self.settle:
                continue
            found.append((st.st_mtime, entry.name, Path(entry.path)))
        return [p for _m, _n, p in sorted(found)]

    def read(self, path: Path) -> Read | None:
        """The file's bytes, None when it vanished, changed while read, or cannot be read (logged once)."""
        try:
            before = path.stat()
            with open(path, "rb") as f:
                data = f.read()
            after = path.stat()
        except FileNotFoundError:
            return None  # deleted by someone else meanwhile: nothing to load
        except PermissionError as exc:
            if path not in self._unreadable:
                self._unreadable.add(path)
                log.warning("%s: cannot read (%s): left where it is", path, exc.strerror)
            return None
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(data) != after.st_size:
            return None  # still being written: next round, once it has settled
        self._unreadable.discard(path)
        return Read(path, data, after.st_size, after.st_mtime, hashlib.sha256(data).hexdigest())

    def finish(self, path: Path) -> None:
        """After the commit: delete, or move into `folder/done/`."""
        try:
            if self.done == "delete":
                path.unlink()
            else:
                target = self.folder / DONE
                target.mkdir(exist_ok=True)
                os.replace(path, _free(target / path.name))
        except FileNotFoundError:
            pass
        except PermissionError as exc:
            if path not in self._unreadable:
                self._unreadable.add(path)
                log.warning("%s: loaded, but cannot %s it (%s)", path, self.done, exc.strerror)

    def reject(self, path: Path, reason: str) -> Path | None:
        """Keep a refused file aside with its reason: it is not loaded, and not read again."""
        self.rejected.mkdir(parents=True, exist_ok=True)
        target = _free(self.rejected / path.name)
        try:
            shutil.move(str(path), target)
        except FileNotFoundError:
            return None
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        Path(f"{target}.reason").write_text(f"{stamp} {path}: {reason}\n")
        return target


def _free(path: Path) -> Path:
    """`path`, or `path.1`, `path.2`, ... when a file of that name is already there."""
    n, candidate = 0, path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{n}")
    return candidate
