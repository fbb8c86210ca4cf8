"""Real `python -m scraper` bridge processes: SIGKILL at random moments of a backfill and of live
bridging, a Grafana-like reader in another process, a backup taken while the bridge writes. After
every restart the bridged rows equal one uninterrupted run's, twins (entries sharing a date_time)
included."""
from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from bridge_support import BRIDGE, add_rows, bridged, count, create_source, dcs_rows, query
from processes import on_a_terminal, running, spawn, terminate, wait_for
from scraper import commands

SCR = Path(sys.executable).with_name("scr.py")



def write_cfg(dbs, target: Path, name: str = "scraper.cfg", **keys) -> Path:
    return dbs.write_cfg({"bridge": {**BRIDGE, "target": f"sqlite:///{target}", "loglevel": "DEBUG", **keys}},
                         name=name)


def reference(dbs, **keys) -> Path:
    """The uninterrupted run over the same source, in-process, into its own file."""
    path = dbs.tmp_path / "reference" / "live.db"
    cfg = write_cfg(dbs, path, name="reference.cfg", **keys)
    commands.run(commands.settings(str(cfg), "bridge"), catchup=True)
    return path


def state(path: Path) -> tuple[list, list]:
    return bridged(path), query(path, "SELECT tablename, date_time, id, entries, max_id FROM bridge_position")


def test_sigkill_at_random_moments_of_a_backfill_gives_the_uninterrupted_rows(dbs):
    rng = random.Random(16)
    src = dbs.engine("source")
    create_source(src)
    # 8 000 entries over the same 2.3 days 20 000 took: each kill still lands after 200-2 000 rows, and
    # three kills take at most 6 000, so every one of them cuts a backfill with work left
    add_rows(src, dcs_rows(8000, twins=0.1, seed=6, step=timedelta(seconds=25)))
    live = dbs.tmp_path / "grafana" / "live.db"
    cfg = write_cfg(dbs, live, batch=25)
    kills = 0
    for _attempt in range(8):  # small rounds (batch 25): many commits, many moments to die at
        before = count(live)
        proc = spawn(cfg, "bridge", "--catchup")
        with running(proc):
            target = before + rng.randrange(200, 2000)
            wait_for(lambda: count(live) >= target or proc.poll() is not None, 60, f"{target} rows")
            time.sleep(rng.random() * 0.05)  # anywhere inside a round, not only right after a commit
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=30)
        if proc.returncode == 0:
            break
    assert kills >= 3
    proc = spawn(cfg, "bridge", "--catchup")
    with running(proc):
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert state(live) == state(reference(dbs, batch=25))
    assert count(live) == 8000


def commit_order(rows: list[dict], every: int = 150, by: int = 60) -> list[dict]:
    """The entries in the order a DCS commits them: every `every`-th one `by` entries late (so behind
    newer ones), ids left to AUTO_INCREMENT as in a real DCS table."""
    out = [{k: v for k, v in r.items() if k != "id"} for r in rows]
    for k in range(every, len(out) - by, every):
        out.insert(k + by, out.pop(k))
    return out


def test_sigkill_during_live_bridging_while_the_source_grows_loses_and_repeats_nothing(dbs):
    rng = random.Random(61)
    src = dbs.engine("source")
    create_source(src)
    rows = commit_order(dcs_rows(6000, twins=0.1, seed=7))
    add_rows(src, rows[:1000])
    live = dbs.tmp_path / "grafana" / "live.db"
    cfg = write_cfg(dbs, live, batch=40, sleep="0.05s")
    done = threading.Event()

    def dcs():  # the DCS keeps writing, a few entries at a time, while bridges are killed and restarted
        for k in range(1000, len(rows), 10):
            add_rows(src, rows[k:k + 10])
            time.sleep(0.005)
        done.set()
    writer = threading.Thread(target=dcs)
    writer.start()
    kills = 0
    try:
        while not done.is_set() or kills < 3:
            proc = spawn(cfg, "bridge")
            with running(proc):
                target = count(live) + rng.randrange(50, 600)
                wait_for(lambda: count(live) >= target or (done.is_set() and count(live) >= 6000), 60, "live rows")
                time.sleep(rng.random() * 0.05)
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                kills += 1
    finally:
        writer.join()
    commands.run(commands.settings(str(cfg), "bridge"), catchup=True)  # whatever the last kill left
    assert count(live) == 6000
    # entries committed late were bridged when they came, not in time order as a backfill of the
    # final source bridges them: the same rows, and the same bookmarks
    rows_live, at_live = state(live)
    rows_ref, at_ref = state(reference(dbs, batch=40))
    assert sorted(rows_live) == sorted(rows_ref) and at_live == at_ref


def test_sigterm_and_the_exit_sentinel_stop_a_live_bridge_cleanly(sqlite_dbs):
    src = sqlite_dbs.engine("source")
    create_source(src)
    add_rows(src, dcs_rows(30))
    live = sqlite_dbs.tmp_path / "grafana" / "live.db"
    cfg = write_cfg(sqlite_dbs, live, sleep="1h")
    proc = spawn(cfg, "bridge")
    with running(proc):
        wait_for(lambda: count(live) == 30, 30, "the first round")
        status, took, out = terminate(proc)
    assert status == 0 and took < 10 and "entries bridged 30" in out  # its sleep is an hour: not waited for
    sentinel = cfg.parent / "var" / "PLEASE-EXIT-bridge"
    proc = spawn(cfg, "bridge")
    with running(proc):
        wait_for(lambda: query(live, "SELECT count(*) FROM bridge_points")[0][0] >= 2, 30, "a second start")
        sentinel.parent.mkdir(exist_ok=True)
        sentinel.touch()
        assert proc.wait(timeout=10) == 0
    assert count(live) == 30


READER = r"""
import sqlite3, sys, time, pathlib


path, stop = sys.argv[1], pathlib.Path(sys.argv[2])
reads = torn = 0
while not stop.exists():
    try:
        con = sqlite3.connect(path, timeout=5)  # as Grafana opens it: read-write, default settings
        rows, points = con.execute("SELECT (SELECT count(*) FROM DBNS_SAB_Temp), "
                                   "(SELECT coalesce(sum(value), 0) FROM bridge_points)").fetchone()
        con.close()
    except sqlite3.Error as exc:
        print("ERROR", exc, flush=True)
        continue
    reads += 1
    if rows != points:
        torn += 1
        print("TORN", rows, points, flush=True)
print("reads", reads, "torn", torn, flush=True)
"""


def test_a_reader_process_never_sees_an_error_or_a_torn_round(sqlite_dbs):
    src = sqlite_dbs.engine("source")
    create_source(src)
    add_rows(src, dcs_rows(20000, seed=8))
    live = sqlite_dbs.tmp_path / "grafana" / "live.db"
    cfg = write_cfg(sqlite_dbs, live, batch=100, wal_autocheckpoint=20)  # frequent checkpoints too
    commands.run(commands.settings(str(cfg), "bridge", {"maxiter": 1}), catchup=True)  # tables exist
    stop = sqlite_dbs.tmp_path / "stop-reader"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(live), str(stop)], stdout=subprocess.PIPE, text=True)
    proc = spawn(cfg, "bridge", "--catchup")
    with running(proc, reader):
        assert proc.wait(timeout=120) == 0
        stop.touch()
        out, _ = reader.communicate(timeout=30)
    assert "ERROR" not in out and "TORN" not in out, out[:2000]
    reads = int(out.split()[1])
    assert reads > 10, out
    assert count(live) == 20000


def test_backup_while_live_is_consistent_and_the_bridge_resumes_from_it_without_gap(sqlite_dbs):
    src = sqlite_dbs.engine("source")
    create_source(src)
    rows = dcs_rows(40000, twins=0.05, seed=9)
    add_rows(src, rows[:2000])
    live = sqlite_dbs.tmp_path / "grafana" / "live.db"
    cfg = write_cfg(sqlite_dbs, live, batch=100, sleep="0.05s")
    copy = sqlite_dbs.tmp_path / "live-backup.db"
    stop = threading.Event()

    def dcs():
        for k in range(2000, len(rows), 20):
            if stop.is_set():
                return
            add_rows(src, rows[k:k + 20])
            time.sleep(0.01)
    writer = threading.Thread(target=dcs)
    proc = spawn(cfg, "bridge")
    with running(proc):
        wait_for(lambda: count(live) >= 2000, 60, "the backfill")
        writer.start()
        try:
            backup = subprocess.run([str(SCR), "--cfg", str(cfg), "backup", "-s", "bridge", str(copy)],
                                    capture_output=True, text=True, timeout=60)
            assert backup.returncode == 0, backup.stderr
            copied = count(copy)
            wait_for(lambda: count(live) > copied + 100, 60, "the bridge writing on after the backup")
        finally:
            stop.set()
            writer.join()
        terminate(proc)
    assert "integrity_check: ok" in backup.stdout
    rows_, points = query(copy, "SELECT (SELECT count(*) FROM DBNS_SAB_Temp), (SELECT sum(value) FROM bridge_points)")[0]
    assert rows_ >= 2000 and rows_ == points  # one committed round's state, not a torn one
    assert query(copy, "PRAGMA integrity_check") == [("ok",)]
    restored = write_cfg(sqlite_dbs, copy, name="restored.cfg", batch=100)
    commands.run(commands.settings(str(restored), "bridge"), catchup=True)
    assert bridged(copy) == bridged(reference(sqlite_dbs, batch=100))


@pytest.mark.parametrize("verb", ["backup"])
def test_backup_refuses_to_overwrite(sqlite_dbs, verb):
    src = sqlite_dbs.engine("source")
    create_source(src)
    add_rows(src, dcs_rows(5))
    live = sqlite_dbs.tmp_path / "grafana" / "live.db"
    cfg = write_cfg(sqlite_dbs, live)
    commands.run(commands.settings(str(cfg), "bridge"), catchup=True)
    dest = sqlite_dbs.tmp_path / "exists.db"
    dest.write_text("precious")
    proc = subprocess.run([str(SCR), "--cfg", str(cfg), verb, "-s", "bridge", str(dest)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "exists" in proc.stderr and dest.read_text() == "precious"


def test_catchup_on_a_terminal_draws_a_progress_bar(sqlite_dbs):
    import re

    src = sqlite_dbs.engine("source")
    create_source(src)
    # 3 000 entries in rounds of 200 are enough: with progress_every below any round's duration the
    # bar is redrawn once per round, a count fixed by the data rather than by the machine's speed
    add_rows(src, dcs_rows(3000, seed=10))
    live = sqlite_dbs.tmp_path / "grafana" / "live.db"
    cfg = write_cfg(sqlite_dbs, live, batch=200, loglevel="WARNING", progress_every="0.000001s")
    status, screen, _ = on_a_terminal(cfg, "bridge", "--catchup")
    assert status == 0
    bars = re.findall(r"\r\x1b\[K\[([#-]{30})\] catch-up +(\d+)% (\d+) entries", screen)
    assert len(bars) >= 2, screen[-2000:]
    percents = [int(p) for _, p, _ in bars]
    assert percents == sorted(percents) and percents[-1] > percents[0]
    assert count(live) == 3000


def test_a_live_file_held_locked_at_start_up_is_waited_out_then_bridged(dbs):
    """Another process keeping the live file locked past busy_timeout when a bridge starts (a copy of
    the section frozen while it held the lock): the start-up waits like any outage, says so once, and
    then bridges what one uninterrupted run bridges — not exit 1 on "database is locked"."""
    src = dbs.engine("source")
    create_source(src)
    add_rows(src, dcs_rows(300, seed=8))
    live = dbs.tmp_path / "grafana" / "live.db"
    cfg = write_cfg(dbs, live, busy_timeout="0.2s", backoff_cap="0.5s")
    commands.run(commands.settings(str(cfg), "bridge"), catchup=True)  # the file exists, in WAL mode
    add_rows(src, dcs_rows(300, seed=9, start=dcs_rows(300, seed=8)[-1]["date_time"] + timedelta(seconds=10),
                           first_id=301))
    holder = sqlite3.connect(live, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")  # in WAL mode with exclusive locking: nobody else may even read
    log = dbs.tmp_path / "locked.log"
    try:
        proc = spawn(cfg, "bridge", "--catchup", log=log)
        with running(proc):
            wait_for(lambda: "DB down:" in (log.read_text() if log.exists() else "") or proc.poll() is not None,
                     60, "the bridge waiting for the locked file")
            assert proc.poll() is None, log.read_text()
            holder.execute("ROLLBACK")
            holder.close()
            out, _ = proc.communicate(timeout=120)
    finally:
        holder.close()
    text = log.read_text()
    assert proc.returncode == 0 and "Traceback" not in text, text[-3000:]
    assert text.count("DB down:") == 1 and text.count("DB back up after") == 1, text[-3000:]
    assert state(live) == state(reference(dbs))
    assert count(live) == 600
