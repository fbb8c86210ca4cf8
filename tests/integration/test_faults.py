"""Outages are waited out, at start-up as mid-run, on every path that reads or writes a database.

A scraper started before its database (a reboot) keeps trying and then runs; a server stopped while a
scraper polls it, on the skip-search path, the Python path, the aggregation path or in the averager,
is logged once down and once up, and the target ends equal to an uninterrupted run's. A stop ends a
run at once even while it waits for a database or a statement. Real `python -m scraper` processes
against a private MariaDB server (tests/mariadb_server.py) and SQLite files.
"""
from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from factories import AdTempRowFactory, create_adtemp, create_lid, insert, lid_rows
from processes import newest, running, spawn, terminate, wait_for
from support import Databases, scrape, target_rows

ADTEMP = {"regime": "regimes.adtemp:AdTemp", "interval": "10s", "maxage": "2m", "threshold": 0.5,
          "heartbeat": "0.2s", "sleep": "0.2s", "backoff_cap": "0.5s", "metrics": False}
ADLID = {"regime": "regimes.adlid:AdLid", "interval": "10s", "maxage": "2m", "threshold": 0.05,
         "heartbeat": "0.2s", "sleep": "0.2s", "backoff_cap": "0.5s", "metrics": False,
         "aggregate": "avg,min,max,std", "aggregate_skips": "id,date_time,Quality",
         "aggregate_filter": "Quality != 0", "timefloor": "2011-01-01 00:00:00"}
AVERAGER = {**{k: v for k, v in ADLID.items() if k not in ("interval", "maxage", "threshold", "heartbeat", "sleep")},
            "mode": "averager", "bin": "1h", "territory": "1d"}


def adtemp_rows(n: int, every: int = 3) -> list[dict]:
    rows = AdTempRowFactory.build_batch(n)
    for i, r in enumerate(rows):
        r["Temp_PT1"] = float(i // every)  # a change every `every` entries
    return rows


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def assert_one_outage_logged(log: Path) -> None:
    lines = log_lines(log)
    text = "\n".join(lines)
    assert "Traceback" not in text and "Exception during reset" not in text, text[-3000:]
    downs = [line for line in lines if "DB down:" in line]
    ups = [line for line in lines if "DB back up after" in line]
    assert downs and len(ups) == len(downs) <= 2, ("one line per state change, not per retry", downs, ups)


@pytest.mark.parametrize("path", ["skip-search", "python", "aggregation"])
def test_server_stopped_while_polling_is_waited_out_on_every_path(own_server, path):
    server, dbs = own_server
    src, tgt = dbs.engine("source"), dbs.engine("target")
    if path == "aggregation":
        keys, kls = ADLID, "DcsAdLidSensor"
        rows = lid_rows(3000, sigma=0.2)
        table = create_lid(src, rows[:2000])
    else:
        keys, kls = {**ADTEMP, "skip_in_database": path == "skip-search"}, "DcsAdTemp"
        if path == "skip-search":  # long unchanged stretches: the database skips them
            keys, rows = {**keys, "maxage": "1h"}, adtemp_rows(3000, 100)
        else:
            rows = adtemp_rows(3000)
        table = create_adtemp(src)
        insert(src, table, rows[:2000])
    keys = {**keys, "loglevel": "WARNING"}  # no per-sample log: the database may skip entries
    cfg = dbs.write_cfg({"s": keys})
    log = cfg.parent / "s.log"
    proc = spawn(cfg, "s", "--ALLOW_DROP_CREATE_TABLE", log=log)
    with running(proc):
        first_end = newest_end(tgt, kls)
        wait_for(lambda: (first_end() or 0) and first_end() >= rows[1800]["date_time"], 60, "the first part")
        server.stop()
        src.dispose(), tgt.dispose()
        wait_for(lambda: any("DB down:" in line for line in log_lines(log)), 30, "the outage to be noticed")
        time.sleep(1.0)  # several failed reconnects, through whichever connection the path uses
        assert proc.poll() is None, log.read_text()[-3000:]
        server.start()
        insert(src, table, rows[2000:])
        reference = dbs.settings(**{k: v for k, v in keys.items() if k != "loglevel"}, kls="Reference")
        scrape(reference)
        expected = target_rows(tgt, "Reference")
        # each look reads the whole target back: twice a second is enough to see it done
        wait_for(lambda: target_rows(tgt, kls) == expected, 60, "the scraper to catch up after the outage", every=0.5)
        status, _, out = terminate(proc)
    assert status == 0, log.read_text()[-3000:]
    assert_one_outage_logged(log)
    if path == "skip-search":
        assert "judged in SQL" in out, out


def newest_end(engine: sa.Engine, kls: str):
    return lambda: newest(engine, f"{kls}Vld", "TIMEEND")


@pytest.mark.parametrize("mode", ["scraper", "averager"])
def test_started_before_its_database_it_waits_then_runs(own_server, mode):
    """After a reboot the database often comes up after the scraper: that must not be exit 2 (which
    supervisord does not restart) but a wait."""
    server, dbs = own_server
    src, tgt = dbs.engine("source"), dbs.engine("target")
    create_lid(src, lid_rows(2000, sigma=0.2))
    keys = ADLID if mode == "scraper" else AVERAGER
    cfg = dbs.write_cfg({"s": keys})
    server.stop()
    src.dispose()
    log = cfg.parent / "s.log"
    proc = spawn(cfg, "s", "--ALLOW_DROP_CREATE_TABLE", "--catchup", log=log)
    with running(proc):
        wait_for(lambda: any("source DB down:" in line for line in log_lines(log)), 30, "the wait to start")
        time.sleep(1.0)
        assert proc.poll() is None, log.read_text()
        server.start()
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert_one_outage_logged(log)
    scrape(dbs.settings(**keys, kls="Reference"))
    assert target_rows(tgt, "DcsAdLidSensor") == target_rows(tgt, "Reference")


def test_read_only_target_at_start_and_mid_run_is_an_outage(own_server):
    """`SET GLOBAL read_only` (maintenance, a failover in progress) is waited out, not exit 2: at
    start-up (the CREATE TABLE of an empty target) and mid-run (a commit)."""
    server, dbs = own_server
    src, tgt = dbs.engine("source"), dbs.engine("target")
    rows = adtemp_rows(600)
    table = create_adtemp(src)
    insert(src, table, rows[:300])
    target_db = sa.make_url(dbs.target_url).database
    with server.connect() as admin, admin.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS 'writer'@'localhost'")  # no SUPER: read_only applies to it
        cur.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, INDEX ON `{target_db}`.* TO 'writer'@'localhost'")
        cur.execute("GRANT SELECT ON `fake_dcs`.* TO 'writer'@'localhost'")
        cur.execute("SET GLOBAL read_only = 1")
    keys = {**ADTEMP, "loglevel": "WARNING"}
    cfg = dbs.write_cfg({"s": {**keys, "target": dbs.target_url.replace("root@", "writer@")}})
    log = cfg.parent / "s.log"
    proc = spawn(cfg, "s", "--ALLOW_DROP_CREATE_TABLE", log=log)

    def downs() -> int:
        return sum("target DB down:" in line for line in log_lines(log))

    def read_only(on: int) -> None:
        with server.connect() as admin, admin.cursor() as cur:
            cur.execute(f"SET GLOBAL read_only = {on}")

    with running(proc):
        wait_for(lambda: downs() == 1, 30, "read-only noticed at start-up")
        assert "read-only" in log.read_text() and proc.poll() is None, log.read_text()
        read_only(0)
        wait_for(lambda: (newest(tgt, "DcsAdTempVld", "TIMEEND") or rows[0]["date_time"]) >= rows[290]["date_time"],
                 60, "the first part")
        read_only(1)
        insert(src, table, rows[300:])  # root may still write: SUPER ignores read_only
        wait_for(lambda: downs() == 2, 30, "read-only noticed mid-run")
        read_only(0)
        scrape(dbs.settings(**keys, kls="Reference"))
        expected = target_rows(tgt, "Reference")
        wait_for(lambda: target_rows(tgt, "DcsAdTemp") == expected, 60, "the writes after read-only", every=0.5)
        status, _, _ = terminate(proc)
    assert status == 0, log.read_text()[-3000:]
    lines = log_lines(log)
    assert "Traceback" not in "\n".join(lines)
    assert sum("target DB back up after" in line for line in lines) == 2


def test_sigterm_while_waiting_for_a_database_at_start_up_exits_0_at_once(tmp_path):
    """No server at all (its socket is missing): an outage, so the scraper waits — and a stop ends that
    wait at once with exit 0, no traceback."""
    sqlite3.connect(tmp_path / "tgt.db").close()
    dbs = Databases("mariadb", tmp_path, f"mysql+pymysql://scraper@localhost/dcs?unix_socket={tmp_path}/mysqld.sock",
                    "sqlite:///tgt.db")
    cfg = dbs.write_cfg({"s": {**ADTEMP, "backoff_cap": "1m"}})
    log = tmp_path / "s.log"
    proc = spawn(cfg, "s", "--catchup", log=log)
    with running(proc):
        wait_for(lambda: any("source DB down:" in line for line in log_lines(log)), 30, "the wait")
        status, took, out = terminate(proc, signal.SIGTERM)
    assert status == 0 and took < 10, (status, took, log.read_text())
    assert "stopped during start-up" in out
    assert "Traceback" not in log.read_text()


def slow_source(dbs: Databases, n: int = 400) -> None:
    src = dbs.engine("source")
    create_lid(src, lid_rows(n, sigma=0.2))
    with src.begin() as conn:  # no index on date_time: SLEEP() in the filter runs for every row
        for row in conn.exec_driver_sql("SHOW INDEX FROM AD1_LidSensor WHERE Column_name = 'date_time'").all():
            conn.exec_driver_sql(f"ALTER TABLE AD1_LidSensor DROP INDEX `{row[2]}`")
    src.dispose()


def sleeping_processes(server) -> int:
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%%SLEEP(%%' "
                    "AND INFO NOT LIKE '%%PROCESSLIST%%'")
        return cur.fetchone()[0]


@pytest.mark.parametrize("how", ["SIGTERM", "sentinel"])
def test_stop_ends_a_long_statement_within_seconds(own_server, how):
    """An aggregate_filter calling SLEEP(3) per row makes each aggregate query (the start-up check, the
    first PROCEED's) run for minutes: a stop cancels it (KILL QUERY) and the run ends with exit 0,
    nothing written."""
    server, dbs = own_server
    slow_source(dbs)
    sentinel = dbs.tmp_path / "STOP"
    cfg = dbs.write_cfg({"s": {**ADLID, "aggregate_filter": "SLEEP(3) = 0", "exit_sentinel": str(sentinel)}})
    log = cfg.parent / "s.log"
    proc = spawn(cfg, "s", "--ALLOW_DROP_CREATE_TABLE", "--catchup", log=log)
    with running(proc):
        wait_for(lambda: sleeping_processes(server) == 1, 60, "the long statement")
        t0 = time.monotonic()
        if how == "SIGTERM":
            proc.send_signal(signal.SIGTERM)
        else:
            sentinel.touch()
        out, _ = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    text = log.read_text()
    assert proc.returncode == 0 and took < 15, (proc.returncode, took, text[-2000:])
    assert "Traceback" not in text
    assert "stopped during start-up" in out or "propagations written 0" in out, out
    wait_for(lambda: sleeping_processes(server) == 0, 10, "the statement to be gone from the server")
    tgt = dbs.engine("target")
    assert not sa.inspect(tgt).has_table("DcsAdLidSensorVld") or \
        not target_rows(tgt, "DcsAdLidSensor"), "nothing half-written"


def test_sigterm_while_sqlite_waits_for_a_lock_exits_within_seconds(sqlite_dbs):
    dbs = sqlite_dbs
    src = dbs.engine("source")
    insert(src, create_adtemp(src), adtemp_rows(300))
    keys = {**ADTEMP, "loglevel": "WARNING"}
    scrape(dbs.settings(**keys, maxiter=3))
    before = target_rows(dbs.engine("target"), "DcsAdTemp")
    cfg = dbs.write_cfg({"s": keys})
    blocker = sqlite3.connect(sa.make_url(dbs.target_url).database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    log = cfg.parent / "s.log"
    try:
        proc = spawn(cfg, "s", "--catchup", log=log)
        with running(proc):
            wait_for(lambda: any("database is locked" in line for line in log_lines(log)), 60, "the first wait")
            time.sleep(1.0)  # inside SQLite's own next wait (5 s), after the retrier's first backoff
            status, took, _ = terminate(proc)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert status == 0 and took < 15, (status, took)
    assert "Traceback" not in log.read_text()
    assert target_rows(dbs.engine("target"), "DcsAdTemp") == before
