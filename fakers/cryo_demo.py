"""`python -m fakers.cryo_demo`: `make demo`'s device part, a few seconds long and self-cleaning.

An emulated cryostat (fakers/devices.py, a real HTTP server on 127.0.0.1) is logged by
`scr.py -s cryo_logger` at 5 Hz. Once some readings are in, the target is taken away: this program
holds SQLite's write lock on it, which the logger sees as an outage (as a locked or unwritable file
on a lab PC). Polling goes on into the spool; when the spool holds a few polls the lock is released,
the logger drains the spool in order and goes on writing directly. At the end the rows in the target
are compared with the readings the device served: none lost, none twice.

Every step waits for an event (rows in the target, records in the spool, the logger's exit), never for
a fixed time, with a generous deadline; the device and the logger process are stopped whatever happens.
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from fakers.devices import CryoDevice
from scraper import modes
from scraper.db import resolve_url
from scraper.modes.logger import paths

DEADLINE_S = 60.0


def wait_for(what: str, condition, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if proc.poll() is not None:
            raise RuntimeError(f"the logger ended (rc {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {what} within {DEADLINE_S:.0f}s")
        time.sleep(0.05)


def count(db: Path) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute("SELECT count(*) FROM cryo").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # no table yet
    finally:
        con.close()


def spooled(spool: Path) -> int:
    try:
        return spool.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakers.cryo_demo")
    parser.add_argument("--cfg", default="scraper.cfg")
    parser.add_argument("--section", default="cryo_logger")
    parser.add_argument("--polls", type=int, default=25)
    args = parser.parse_args(argv)
    cfg = modes.settings(args.cfg, args.section)
    db = Path(resolve_url(cfg, "target").database)
    spool = paths.local(cfg, cfg.spool)
    for stale in (spool, Path(f"{spool}.head")):  # an earlier demo's, killed: not this run's readings
        stale.unlink(missing_ok=True)
    before = count(db)
    scr = str(Path(sys.executable).with_name("scr.py"))
    with CryoDevice() as device:
        cmd = [scr, "--cfg", args.cfg, "-s", args.section, "--device", device.url, "--sleep", "0.2s",
               "--maxiter", str(args.polls), "--backoff_cap", "0.2s", "--loglevel", "WARNING"]
        print("$", " ".join(["scr.py", *cmd[1:]]), flush=True)
        proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            wait_for("5 rows in the target", lambda: count(db) >= before + 5, proc)
            lock = sqlite3.connect(db, timeout=10, isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")  # the target is away: the logger cannot write
            print(f"[demo] target locked after {count(db) - before} rows (an outage); polling goes on", flush=True)
            wait_for("3 polls in the spool", lambda: spooled(spool) >= 3, proc)
            lock.execute("ROLLBACK")
            lock.close()
            print(f"[demo] target back with {spooled(spool)} polls in the spool", flush=True)
            rc = proc.wait(timeout=DEADLINE_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        served = len(device.replies)
    if rc != 0:
        return rc
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows, distinct = con.execute("SELECT count(*), count(DISTINCT time) FROM cryo").fetchone()
    con.close()
    rows, distinct, left = rows - before, distinct - before, spooled(spool)
    print(f"[demo] the device served {served} readings; the target got {rows} new rows ({distinct} distinct "
          f"times); left in the spool {left}", flush=True)
    return 0 if rows == distinct == served and left == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
