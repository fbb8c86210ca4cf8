"""A server that stops answering (SIGSTOP: it refuses nothing and raises nothing, like a hung host or a
network black hole) under a live scraper and a live bridge, on MariaDB and PostgreSQL:

- the outage is logged within `hang_after` of the freeze, and retried ("back up" once it answers);
- `scr.py status` answers within 10 s, showing the database as not answering;
- SIGTERM ends the section within 5 s even while its call hangs;
- after SIGCONT, a restart gives a target identical to one undisturbed run.
The server is always thawed in a `finally`.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from bridge_support import BRIDGE, add_rows, bridged, count, create_source, dcs_rows
from factories import AdTempRowFactory, create_adtemp, insert
from processes import newest, running, spawn, terminate, wait_for
from scraper import commands
from support import scrape, target_rows

pytestmark = pytest.mark.backends("mariadb", "postgresql", reason="SQLite is a file: it cannot stop answering")
HANG_AFTER = 8.0  # seconds; the default (1m) is what an operator gets
LIVE = {"hang_after": f"{HANG_AFTER:g}s", "backoff_cap": "0.5s", "loglevel": "INFO"}
SCRAPER = {"regime": "regimes.adtemp:AdTemp", "interval": "10s", "maxage": "2m", "threshold": 0.5,
           "heartbeat": "0.2s", "sleep": "0.2s", "batch": 50, "metrics": "False", **LIVE}
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def server_of(dbs, request):
    return request.getfixturevalue(f"{dbs.backend}_server")


def lines(log: Path, *words: str) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if all(w in line for w in words)]


def logged_at(line: str) -> float:
    return datetime.strptime(STAMP.match(line)[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def frozen_checks(server, proc, cfg: Path, log: Path, section: str, downs_before: int) -> None:
    """Freeze the server under the live `proc`; the outage is logged within hang_after and status
    answers within 10 s; then thaw and see the retrier say the database is back."""
    try:
        frozen_at = time.time()
        server.freeze()
        wait_for(lambda: len(lines(log, "DB down:", "does not answer")) > downs_before, 4 * HANG_AFTER,
                 "the outage line")
        line = lines(log, "DB down:", "does not answer")[downs_before]
        assert logged_at(line) - frozen_at <= HANG_AFTER, line
        t0 = time.monotonic()
        shown = subprocess.run([sys.executable, "-m", "scraper", "--cfg", str(cfg), "status"], capture_output=True,
                               text=True, timeout=60)
        assert time.monotonic() - t0 < 10, "status within 10 s"
        row = next(r for r in shown.stdout.splitlines() if r.startswith(section + " "))
        assert "ERROR" in row and "does not answer" in row, shown.stdout
    finally:
        server.thaw()
    wait_for(lambda: len(lines(log, "DB back up after")) >= len(lines(log, "DB down:")), 60, "the back-up line")
    assert proc.poll() is None, "the outage was waited out, not a reason to end"


def sigterm_while_frozen(server, proc, log: Path) -> None:
    """SIGTERM while the server is frozen and the section waits on it: exit 0 within 5 s."""
    downs = len(lines(log, "DB down:"))
    try:
        server.freeze()
        wait_for(lambda: len(lines(log, "DB down:")) > downs, 4 * HANG_AFTER, "the section to wait on the server")
        status, took, _ = terminate(proc, timeout=30)
    finally:
        server.thaw()
    assert status == 0, log.read_text()[-3000:]
    assert took < 5, f"SIGTERM took {took:.1f}s"


def test_a_frozen_server_under_a_live_scraper(dbs, request):
    server = server_of(dbs, request)
    src, tgt = dbs.engine("source"), dbs.engine("target")
    rows = AdTempRowFactory.build_batch(1500)
    for i, r in enumerate(rows):
        r["Temp_PT1"] = float(i // 3)  # a propagation at every third entry: the last of 500 ends at 498
    table = create_adtemp(src)
    insert(src, table, rows[:500])
    cfg = dbs.write_cfg({"scraper": SCRAPER})
    log = cfg.parent / "scraper.log"
    proc = spawn(cfg, "scraper", "--ALLOW_DROP_CREATE_TABLE", log=log)
    with running(proc):
        wait_for(lambda: newest(tgt, "DcsAdTempVld", "TIMEEND") == rows[498]["date_time"], 60, "the first rows")
        frozen_checks(server, proc, cfg, log, "scraper", 0)
        insert(src, table, rows[500:1000])
        wait_for(lambda: newest(tgt, "DcsAdTempVld", "TIMEEND") == rows[999]["date_time"], 60, "rows after the thaw")
        sigterm_while_frozen(server, proc, log)
    insert(src, table, rows[1000:])
    rerun = spawn(cfg, "scraper", "--catchup", log=cfg.parent / "rerun.log")
    with running(rerun):
        assert rerun.wait(timeout=120) == 0
    assert "Traceback" not in log.read_text()
    scrape(dbs.settings(**SCRAPER, kls="Reference"))
    assert target_rows(tgt, "DcsAdTemp") == target_rows(tgt, "Reference")


def test_a_frozen_source_under_a_live_bridge(dbs, request):
    server = server_of(dbs, request)
    src = dbs.engine("source")
    create_source(src)
    rows = dcs_rows(1500, twins=0.1, seed=3)
    add_rows(src, rows[:500])
    live = dbs.tmp_path / "grafana" / "live.db"
    keys = {**BRIDGE, **LIVE, "target": f"sqlite:///{live}", "batch": 40, "sleep": "0.2s"}
    cfg = dbs.write_cfg({"bridge": keys})
    log = cfg.parent / "bridge.log"
    proc = spawn(cfg, "bridge", log=log)
    with running(proc):
        wait_for(lambda: count(live) == 500, 60, "the first rows bridged")
        frozen_checks(server, proc, cfg, log, "bridge", 0)
        add_rows(src, rows[500:1000])
        wait_for(lambda: count(live) == 1000, 60, "rows after the thaw")
        sigterm_while_frozen(server, proc, log)
    add_rows(src, rows[1000:])
    commands.run(commands.settings(str(cfg), "bridge"), catchup=True)
    assert "Traceback" not in log.read_text()
    reference = dbs.tmp_path / "reference" / "live.db"
    ref_cfg = dbs.write_cfg({"bridge": {**keys, "target": f"sqlite:///{reference}"}}, name="reference.cfg")
    commands.run(commands.settings(str(ref_cfg), "bridge"), catchup=True)
    assert bridged(live) == bridged(reference)
