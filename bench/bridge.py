"""`python -m bench.bridge`: the speed bars of mode bridge (issue 16), side by side in one run.

1. backfill: `scr.py -s SECTION --catchup` of >= 1M adtemp entries (SQLite, MariaDB and PostgreSQL
   sources) into an empty bridged file, vs a hand-written copy of the same rows into the same layout
   (ONE SELECT streamed from a DBAPI cursor into executemany INSERTs in ONE transaction, times
   converted with zoneinfo) -- target ratio <= 2;
2. live: a DCS writer commits one entry per heartbeat (1 s, date_time = now) while a live bridge runs
   with sleep = heartbeat; totalLag as the bridge records it (bridge_totalLag) and as a reader sees it
   (now - newest bridged time, sampled every 50 ms) -- target < 3 heartbeats -- and source statements
   per round;
3. peak RSS of every run, each in its own process -- target < 150 MB.

Results on stdout and in var/bench_bridge.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import data
from .common import SERVERS, header, server, write_json

ROOT = Path(__file__).resolve().parents[1]
PT = [f"Temp_PT{i}" for i in range(1, 6)]
TZ = "Asia/Shanghai"


def section(source: str, target: Path, **keys) -> str:
    lines = ["[bench_bridge]", "regime = regimes.adtemp:AdTemp", "mode = bridge", f"source = {source}",
             f"target = sqlite:///{target}", f"source_tz = {TZ}", "timefloor = 2011-01-01 00:00:00",
             "loglevel = WARNING"]
    return "\n".join(lines + [f"{k} = {v}" for k, v in keys.items()]) + "\n"


# --- the two contenders, each run in a child process (python -m bench.bridge worker ...) ------------
def hand_copy(source_url: str, dest: Path) -> dict:
    """What one would write by hand: one streamed SELECT, executemany into the same layout, one commit."""
    engine = sa.create_engine(source_url)
    tz = ZoneInfo(TZ)
    out = sqlite3.connect(dest)
    out.execute("PRAGMA journal_mode=WAL")
    out.execute("PRAGMA synchronous=NORMAL")
    out.execute(f"CREATE TABLE DBNS_SAB_Temp (time INTEGER NOT NULL, {', '.join(c + ' FLOAT' for c in PT)})")
    out.execute("CREATE INDEX DBNS_SAB_Temp_time ON DBNS_SAB_Temp (time)")
    raw = engine.raw_connection()
    q = engine.dialect.identifier_preparer.quote  # PostgreSQL folds unquoted mixed-case names
    t0 = time.perf_counter()
    if engine.dialect.name == "sqlite":
        cur = raw.cursor()
    elif engine.dialect.name == "postgresql":
        cur = raw.dbapi_connection.cursor(name="hand_copy")  # a server-side cursor: streamed, not buffered
        cur.itersize = 10_000  # rows per FETCH (psycopg's default, 100, is a round trip per 100 rows)
    else:
        import pymysql.cursors

        cur = raw.dbapi_connection.cursor(pymysql.cursors.SSCursor)  # streamed, not buffered
    cur.execute(f"SELECT date_time, {', '.join(map(q, PT))} FROM {q('DBNS_SAB_Temp')} ORDER BY date_time, id")

    def rows():
        for t, *values in cur:
            if isinstance(t, str):
                t = datetime.fromisoformat(t)
            s = t.replace(tzinfo=tz).timestamp()
            yield (int(s) if s == int(s) else s, *values)
    out.executemany(f"INSERT INTO DBNS_SAB_Temp VALUES ({', '.join('?' * (len(PT) + 1))})", rows())
    out.commit()
    t1 = time.perf_counter()
    n = out.execute("SELECT count(*) FROM DBNS_SAB_Temp").fetchone()[0]
    out.close()
    raw.close()
    return {"run_s": t1 - t0, "rows": n}


def bridge_run(cfg: Path) -> dict:
    from scraper import commands

    settings = commands.settings(str(cfg), "bench_bridge")
    t0 = time.perf_counter()
    summary = commands.run(settings, catchup=True)
    t1 = time.perf_counter()
    return {"run_s": t1 - t0, "rows": summary.points, "rounds": summary.rounds, "queries": summary.queries}


def worker(argv: list[str]) -> None:
    kind = argv[0]
    result = hand_copy(argv[1], Path(argv[2])) if kind == "copy" else bridge_run(Path(argv[1]))
    print(json.dumps(result))


def run_child(*args: str) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bench.bridge", "worker", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.stdout.read(), proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench.bridge worker {args[0]} failed:\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result.update(wall_s=time.perf_counter() - t0, peak_rss_mb=usage.ru_maxrss / 1024)
    return result


def backfill(name: str, source_url: str, rows: int, repeat: int, batch: int, workdir: Path) -> dict:
    src = sa.create_engine(source_url)
    t0 = time.perf_counter()
    data.make_adtemp(src, rows)
    q = src.dialect.identifier_preparer.quote
    with src.connect() as conn:  # warm the caches for both contenders alike
        conn.execute(sa.text(f"SELECT count(*), avg({q('Temp_PT1')}) FROM {q('DBNS_SAB_Temp')}")).all()
    src.dispose()
    print(f"[{name}] generated {rows} adtemp entries in {time.perf_counter() - t0:.1f}s", flush=True)
    cfg = workdir / f"bench_bridge_{name}.cfg"
    copies, bridges = [], []
    for _ in range(repeat):  # a shared machine: alternate the contenders, keep each one's fastest run
        for f in workdir.glob("bridge_*.db*"):
            f.unlink()
        copies.append(run_child("copy", source_url, str(workdir / "bridge_copy.db")))
        cfg.write_text(section(source_url, workdir / "bridge_live.db", batch=batch))
        bridges.append(run_child("bridge", str(cfg)))
    copy, bridge = min(copies, key=lambda r: r["run_s"]), min(bridges, key=lambda r: r["run_s"])
    assert copy["rows"] == bridge["rows"] == rows, (copy, bridge)
    same = _same_rows(workdir / "bridge_copy.db", workdir / "bridge_live.db")
    ratio = bridge["run_s"] / copy["run_s"]
    print(f"[{name}] backfill of {rows} entries: bridge {bridge['run_s']:.2f}s ({bridge['rounds']} rounds, "
          f"{bridge['queries']} source statements, peak RSS {bridge['peak_rss_mb']:.0f} MB) vs hand-written copy "
          f"{copy['run_s']:.2f}s (peak RSS {copy['peak_rss_mb']:.0f} MB): ratio {ratio:.2f} (target <= 2); "
          f"same rows: {same}", flush=True)
    return {"backend": name, "rows": rows, "batch": batch, "bridge": bridge, "copy": copy, "ratio": ratio,
            "bridge_runs_s": [r["run_s"] for r in bridges], "copy_runs_s": [r["run_s"] for r in copies],
            "same_rows": same}


def _same_rows(a: Path, b: Path) -> bool:
    con = sqlite3.connect(a)
    con.execute(f"ATTACH DATABASE '{b}' AS other")
    diff = con.execute("SELECT count(*) FROM (SELECT * FROM main.DBNS_SAB_Temp EXCEPT "
                       "SELECT * FROM other.DBNS_SAB_Temp)").fetchone()[0]
    con.close()
    return diff == 0


def live(heartbeat: float, seconds: float, workdir: Path) -> dict:
    """A DCS writer at one entry per heartbeat (date_time = now, UTC) and a live bridge process."""
    src_path, live_path = workdir / "live_source.db", workdir / "live_bridged.db"
    for f in workdir.glob("live_*.db*"):
        f.unlink()
    con = sqlite3.connect(src_path, check_same_thread=False)  # created here, written by the DCS thread
    con.execute(f"CREATE TABLE DBNS_SAB_Temp (id INTEGER PRIMARY KEY AUTOINCREMENT, date_time DATETIME NOT NULL, "
                f"{', '.join(c + ' FLOAT' for c in PT)})")
    con.execute("CREATE INDEX DBNS_SAB_Temp_dt ON DBNS_SAB_Temp (date_time)")
    con.commit()
    stop = threading.Event()

    def dcs():
        k = 0
        while not stop.is_set():
            now = datetime.now(timezone.utc).replace(tzinfo=None)
            con.execute(f"INSERT INTO DBNS_SAB_Temp (date_time, {', '.join(PT)}) VALUES (?, ?, ?, ?, ?, ?)",
                        (now.isoformat(sep=" "), *(20.0 + (k % 7) / 10 for _ in PT)))
            con.commit()
            k += 1
            stop.wait(heartbeat)
    writer = threading.Thread(target=dcs, daemon=True)
    writer.start()
    cfg = workdir / "bench_bridge_live.cfg"
    text = section(f"sqlite:///{src_path}", live_path, sleep=f"{heartbeat}s").replace(f"source_tz = {TZ}", "source_tz = UTC")
    cfg.write_text(text)
    log = workdir / "bench_bridge_live.log"
    proc = subprocess.Popen([sys.executable, "-m", "scraper", "--cfg", str(cfg), "-s", "bench_bridge"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=open(log, "w"), text=True)
    seen: list[float] = []
    try:
        deadline = time.monotonic() + 30
        while not live_path.exists() or _newest(live_path) is None:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"live bridge did not start, see {log}")
            time.sleep(0.05)
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            seen.append(time.time() - _newest(live_path))
            time.sleep(0.05)
    finally:
        proc.terminate()
        out = proc.stdout.read()
        _pid, _status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(_status)
        stop.set()
        writer.join()
        con.close()
    metric = sqlite3.connect(live_path)
    lags = sorted(v for (v,) in metric.execute("SELECT value FROM bridge_totalLag WHERE value IS NOT NULL"))
    rounds, points = metric.execute("SELECT count(*), sum(value) FROM bridge_points").fetchone()
    metric.close()
    queries = int(out.split("source queries ")[1].split()[0])
    seen.sort()
    res = {"heartbeat_s": heartbeat, "seconds": seconds, "rounds": rounds, "points": points,
           "totalLag_median_hb": lags[len(lags) // 2] / heartbeat, "totalLag_max_hb": lags[-1] / heartbeat,
           "reader_lag_median_hb": seen[len(seen) // 2] / heartbeat, "reader_lag_max_hb": seen[-1] / heartbeat,
           "source_statements_per_round": queries / rounds, "peak_rss_mb": usage.ru_maxrss / 1024}
    print(f"[live] heartbeat {heartbeat}s for {seconds:.0f}s: {rounds} rounds, {points:.0f} points; totalLag "
          f"median {res['totalLag_median_hb']:.2f}, max {res['totalLag_max_hb']:.2f} heartbeats (target < 3); "
          f"a reader's lag median {res['reader_lag_median_hb']:.2f}, max {res['reader_lag_max_hb']:.2f}; "
          f"{res['source_statements_per_round']:.2f} source statements per round", flush=True)
    return res


def _newest(path: Path) -> float | None:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute("SELECT max(time) FROM DBNS_SAB_Temp").fetchone()[0]
    except sqlite3.OperationalError:
        return None
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "worker":
        worker(argv[1:])
        return 0
    p = argparse.ArgumentParser(prog="python -m bench.bridge", description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="adtemp entries to backfill")
    p.add_argument("--batch", type=int, default=10_000, help="the bridge section's batch (entries per round)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--live-seconds", type=float, default=30.0)
    p.add_argument("--backends", default="sqlite,mariadb,postgresql")
    p.add_argument("--json", default=str(ROOT / "var" / "bench_bridge.json"))
    args = p.parse_args(argv)
    workdir = ROOT / "var" / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    results = header(args, backfill=[])
    for name in args.backends.split(","):
        if name == "sqlite":
            results["backfill"].append(backfill(name, f"sqlite:///{workdir / 'source_bridge.db'}", args.rows,
                                                args.repeat, args.batch, workdir))
        elif name in SERVERS:
            with server(name) as db_server:
                db_server.create_database("bench_bridge")
                results["backfill"].append(backfill(name, db_server.url("bench_bridge"), args.rows, args.repeat,
                                                    args.batch, workdir))
        else:
            raise SystemExit(f"unknown backend {name} (use sqlite, mariadb, postgresql)")
    results["live"] = live(1.0, args.live_seconds, workdir)
    results["peak_rss_mb"] = max([results["live"]["peak_rss_mb"]] + [max(b["bridge"]["peak_rss_mb"], b["copy"]["peak_rss_mb"])
                                                                    for b in results["backfill"]])
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
