"""What an operator sees of the copies of a section, and how a copy lets the section go:

- `scr.py status` names the HOLDER and every STANDBY waiting for the lease; when the holder is killed,
  the standby holds the section within lease_timeout and is no standby any more;
- a start-up that fails after taking the lease (an operator mistake found after `hold`) lets the section
  go at once: no renewal thread outlives it, and a second copy takes the section without waiting.
On every backend, with real `scr.py` processes."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from factories import create_adtemp, insert
from processes import running, spawn, wait_for
from scraper import commands
from scraper.errors import OperatorError
from scraper.runtime.lease import holder
from test_resume import REGIME, wandering_rows


def status_note(cfg: Path) -> str:
    """What `scr.py status` prints, as a real process prints it (the config has one section)."""
    shown = subprocess.run([sys.executable, "-m", "scraper", "--cfg", str(cfg), "status"],
                           capture_output=True, text=True, timeout=120)
    return shown.stdout


def pid_of(name: str) -> int:
    return int(name.rsplit(":", 1)[1])


def test_status_shows_the_holder_and_the_standby_and_the_standby_takes_over_when_the_holder_dies(dbs):
    src = dbs.engine("source")
    insert(src, create_adtemp(src), wandering_rows(300, seed=5))
    timeout = 20.0
    cfg = dbs.write_cfg({"s": {**REGIME, "lease_timeout": f"{timeout:g}s", "sleep": "0.5s", "metrics": "False"}})
    tgt = dbs.engine("target")
    first = spawn(cfg, "s", "--ALLOW_DROP_CREATE_TABLE", log=dbs.tmp_path / "first.log")
    with running(first):
        wait_for(lambda: (h := holder(tgt, "s")) is not None and pid_of(h.holder) == first.pid, 60, "the lease")
        second = spawn(cfg, "s", log=dbs.tmp_path / "second.log")
        with running(second):
            wait_for(lambda: "standby: the section is held by" in (dbs.tmp_path / "second.log").read_text(), 60,
                     "the standby line")
            notes = []  # each look is a real `scr.py status`: the one that shows the standby is checked
            wait_for(lambda: notes.append(status_note(cfg)) or f":{second.pid} (waiting" in notes[-1], 60,
                     "the STANDBY in status")
            note = notes[-1]
            assert re.search(rf"HOLDER \S+:{first.pid} \(epoch \d+, renewed \d+s ago\)", note), note
            assert re.search(rf"STANDBY \S+:{second.pid} \(waiting \d+s\)", note), note
            assert note.count("STANDBY") == 1 and note.count("HOLDER") == 1, note
            epoch = holder(tgt, "s").epoch
            first.send_signal(signal.SIGKILL)
            first.wait(30)
            killed = time.monotonic()
            wait_for(lambda: (h := holder(tgt, "s")) is not None and pid_of(h.holder) == second.pid, 120,
                     "the standby holding the section")
            assert time.monotonic() - killed < timeout, "taken over within lease_timeout"
            assert holder(tgt, "s").epoch == epoch + 1
            note = status_note(cfg)
            assert re.search(rf"HOLDER \S+:{second.pid} ", note) and "STANDBY" not in note, note
            assert second.poll() is None  # writing on as the holder


def lease_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("lease-") and t.is_alive()]


def test_a_start_up_that_fails_after_taking_the_lease_lets_the_section_go_at_once(dbs):
    """The target exists but not the section's tables, and the run is without --ALLOW_DROP_CREATE_TABLE:
    a mistake found after the lease is taken (the lease comes before resuming from the target). The
    section is then free at once, with no renewal thread left in this (library user's) process, and a
    copy with a lease_timeout of an hour takes it without standing by."""
    src = dbs.engine("source")
    insert(src, create_adtemp(src), wandering_rows(100, seed=9))
    cfg = dbs.write_cfg({"s": {**REGIME, "lease_timeout": "1h", "metrics": "False"}})
    tgt = dbs.engine("target")
    with tgt.begin() as conn:  # the target database exists (an SQLite file too), without the section's tables
        conn.exec_driver_sql("CREATE TABLE unrelated (x INTEGER)")
    before = lease_threads()
    with pytest.raises(OperatorError, match="ALLOW_DROP_CREATE_TABLE"):
        commands.run(commands.settings(str(cfg), "s", {}), catchup=True)
    row = holder(tgt, "s")
    assert row is not None and row.free, row  # it was taken, then let go
    wait_for(lambda: lease_threads() == before, 30, "no renewal thread left")
    copy = spawn(cfg, "s", "--catchup", "--ALLOW_DROP_CREATE_TABLE", log=dbs.tmp_path / "copy.log")
    with running(copy):
        out, _ = copy.communicate(timeout=120)
    log = (dbs.tmp_path / "copy.log").read_text()
    assert copy.returncode == 0, log[-3000:]
    assert "standby:" not in log, log[-3000:]
    assert holder(tgt, "s").epoch == row.epoch + 1
