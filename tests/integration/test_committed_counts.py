"""A summary counts what committed, nothing else. A transaction that failed (here: the disk filled
under the database) and was never committed again before the run was stopped must not appear in the
counts an operator reads: the decimator's rollup rows and deletions, the faker's entries written.

The disk really fills: the SQLite file lives on a small tmpfs mounted for the test (test_disk_full.py
explains; skipped where mounting is refused)."""
from __future__ import annotations

import os
import re
import signal
import sqlite3
from pathlib import Path

from processes import running, spawn, terminate, wait_for
from test_disk_full import fill, small_disk
from test_faults import log_lines

CBPM3 = {"regime": "regimes.cbpm3:Cbpm3", "source_tz": "UTC"}
FAKER = {**CBPM3, "mode": "faker", "interval": "0.1s", "faker_timestart": "2020-11-04 09:03:01", "sleep": 0}
DECIMATOR = {**CBPM3, "mode": "decimator", "keep": "2m", "every": "10s", "batch": 5000, "rollup": "cbpm3_rollup",
             "sleep": "0.2s", "metrics": False}


def write_cfg(path: Path, sections: dict[str, dict]) -> Path:
    lines = []
    for name, keys in sections.items():
        lines += [f"[{name}]", *(f"{k} = {v}" for k, v in keys.items()), ""]
    path.write_text("\n".join(lines))
    return path


def rows(db: Path, table: str) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        return 0  # not created yet
    finally:
        con.close()


def down(log: Path) -> bool:
    return any("DB down:" in line for line in log_lines(log))


def test_faker_stopped_on_a_full_disk_claims_only_the_committed_entries(tmp_path):
    with small_disk(tmp_path / "small", "6m") as disk:
        db = disk / "dcs.db"
        cfg = write_cfg(tmp_path / "scraper.cfg", {"f": {**FAKER, "source": f"sqlite:///{db}", "maxiter": 0}})
        log = tmp_path / "f.log"
        proc = spawn(cfg, "f", log=log)
        with running(proc):
            filler = None
            wait_for(lambda: db.exists() and rows(db, "cbpm3_data") > 0, 60, "the first entries")
            filler = fill(disk)  # the next chunk cannot be committed
            wait_for(lambda: down(log), 60, "the full disk to be noticed")
            status, _, out = terminate(proc, signal.SIGTERM, timeout=60)
        assert status == 0, log.read_text()[-3000:]
        written = int(re.search(r"fake entries written (\d+) per table", out).group(1))
        committed = rows(db, "cbpm3_data")
        assert committed % 5 == 0 and written == committed // 5, (out, committed)  # five instruments an entry
        filler.unlink()


def test_decimator_stopped_on_a_full_disk_counts_no_rollup_row_it_did_not_commit(tmp_path):
    with small_disk(tmp_path / "small", "12m") as disk:
        db = disk / "dcs.db"
        sections = {"f": {**FAKER, "source": f"sqlite:///{db}", "maxiter": 9000},
                    "d": {**DECIMATOR, "source": f"sqlite:///{db}"},
                    "first": {**DECIMATOR, "source": f"sqlite:///{db}", "keep": "1000d"}}
        cfg = write_cfg(tmp_path / "scraper.cfg", sections)
        for section, args in (("f", ()), ("first", ("--catchup", "--ALLOW_DROP_CREATE_TABLE"))):
            proc = spawn(cfg, section, *args, log=tmp_path / f"{section}.log")
            with running(proc):
                assert proc.wait(120) == 0, (tmp_path / f"{section}.log").read_text()[-3000:]
        # the tables exist (the first run thinned nothing); an open connection keeps the WAL's index
        # allocated while the WAL itself is emptied, so the first thinning transaction needs new space
        con = sqlite3.connect(db)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = rows(db, "cbpm3_data")
        filler = fill(disk)
        os.truncate(filler, max(os.path.getsize(filler) - 64 * 1024, 0))  # room for the lease, not a chunk
        log = tmp_path / "d.log"
        proc = spawn(cfg, "d", "--catchup", log=log)
        with running(proc):
            wait_for(lambda: down(log), 60, f"the full disk to be noticed\n{log.read_text()[-2000:]}")
            status, _, out = terminate(proc, signal.SIGTERM, timeout=60)
        con.close()
        assert status == 0, log.read_text()[-3000:]
        summary = re.search(r"entries deleted (\d+), kept \d+ in \d+ slices, late \d+, rollup rows (\d+)", out)
        assert summary is not None, out
        deleted, rolled = int(summary.group(1)), int(summary.group(2))
        assert (deleted, rolled) == (before - rows(db, "cbpm3_data"), rows(db, "cbpm3_rollup")), out
        filler.unlink()
