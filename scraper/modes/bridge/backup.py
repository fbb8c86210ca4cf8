"""`scr.py backup -s SECTION DEST`: a consistent copy of the bridged file while the bridge writes.

Copying the file with cp while a round commits can tear it (the -wal holds committed rounds the main
file does not). SQLite's online backup API copies from one read transaction instead: the copy is the
file as of one committed round, so the bridge can resume from it (its bookmarks match its rows). In
WAL mode that read transaction never blocks the bridge. The copy is checked with
`PRAGMA integrity_check` before it is reported good, and is written in rollback-journal mode, ready
to be moved into place (the bridge switches it to WAL when it opens it).
"""
from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from scraper.config import Settings

from . import target


@dataclass
class BackupResult:
    source: Path
    dest: Path
    bytes: int
    integrity: str

    def text(self) -> str:
        return f"backed up {self.source} to {self.dest} ({self.bytes} bytes), integrity_check: {self.integrity}"


def backup(cfg: Settings, dest: str) -> BackupResult:
    src = target.path(cfg)
    if not src.exists():
        raise cfg.error("target", f"{src} does not exist: nothing to back up")
    out = Path(dest)
    if not out.is_absolute():
        out = Path.cwd() / out
    if out.resolve() == src.resolve():
        raise cfg.error("target", f"{out} is the bridged file itself: back up into another file")
    if out.exists():
        raise cfg.error("target", f"{out} exists: back up into a new file (nothing overwritten)")
    if not out.parent.is_dir():
        raise cfg.error("target", f"{out.parent} is not a directory")
    tmp = out.with_name(out.name + ".partial")
    tmp.unlink(missing_ok=True)
    reader = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=60)
    copy = sqlite3.connect(tmp)
    try:
        # pages=-1: the whole file in one step, i.e. from one read transaction (a stepwise copy would
        # restart whenever the bridge commits a round in between)
        reader.backup(copy, pages=-1)
        copy.execute("PRAGMA journal_mode=DELETE")
        integrity = "; ".join(r[0] for r in copy.execute("PRAGMA integrity_check"))
    finally:
        copy.close()
        reader.close()
    if integrity != "ok":
        tmp.unlink(missing_ok=True)
        raise cfg.error("target", f"backup of {src} failed integrity_check: {integrity}")
    os.replace(tmp, out)
    return BackupResult(src, out, out.stat().st_size, integrity)
