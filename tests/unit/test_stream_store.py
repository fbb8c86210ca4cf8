"""`store = DIR`: the temporaries of a run killed mid-write are removed by the next store opened on
that host, never those of a member still writing."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

from scraper.modes.stream.store import Store


def test_a_killed_writers_temporary_is_removed_and_a_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # ended and reaped: the writer a SIGKILL leaves behind
    host = socket.gethostname()
    left = tmp_path / f"1451.avro.{host}:{dead.pid}.tmp"
    writing = tmp_path / f"1452.avro.{host}:{os.getpid()}.tmp"  # this live process
    elsewhere = tmp_path / f"1453.avro.other-host:{dead.pid}.tmp"  # another host's: not ours to judge
    kept = tmp_path / "1450.avro"
    for p in (left, writing, elsewhere, kept):
        p.write_bytes(b"x")
    Store(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (writing, elsewhere, kept))
