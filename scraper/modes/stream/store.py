"""`store = DIR`: every ingested message also kept as a file `<key>.avro`, as the seed's bucket did.

A file is written to a temporary name, fsynced, then linked to its final name, which fails if the
file exists: a message is stored at most once, and a run killed after the link but before its
transaction committed leaves a complete file that the next run finds and keeps (never a second copy).
All of it happens before the transaction commits, so a message in the target is always on disk.

A run killed while writing a temporary leaves it behind: each is named after its writer (host:pid,
as leases name processes), and a store opened on that host removes those of writers that are gone
(never another live member's, which it is about to link).
"""
from __future__ import annotations

import os
from pathlib import Path

from scraper.runtime import lease

from .ledger import Item


class Store:
    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.me = lease.me()
        for tmp in self.dir.glob("*.tmp"):
            writer = tmp.name[:-len(".tmp")].rpartition(".avro.")[2]
            if lease.gone(writer):
                tmp.unlink(missing_ok=True)

    def path(self, key: tuple) -> Path:
        return self.dir / ("_".join(str(k) for k in key) + ".avro")

    def keep(self, items: list[Item]) -> None:
        wrote = False
        for it in items:
            final = self.path(it.key)
            if final.exists():
                continue  # a killed run's complete file: reused
            tmp = final.with_name(f"{final.name}.{self.me}.tmp")
            with open(tmp, "wb") as f:
                f.write(it.raw or b"")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, final)
            except FileExistsError:
                pass  # another process of the group stored it first
            finally:
                tmp.unlink()
            wrote = True
        if wrote:
            fd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
