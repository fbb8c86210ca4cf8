"""`python -m bench.decimate`: mode decimator vs the single hand-written DELETE doing the same thinning.

4.32 M entries (5 instruments x 10 Hz x 24 h, cbpm3_data generated inside the database), keep = 1h,
every = 1m, keep_rule = first, on SQLite and on throwaway MariaDB and PostgreSQL servers. Each
contender runs in its own process on its own identical copy of the table (SQLite: a file copy;
MariaDB: its own database; PostgreSQL: a database made from the template),
with a live 10 Hz writer (tests/live_writer.py) appending meanwhile, whose worst INSERT+COMMIT
latency is reported. Bars: decimator <= 1.5x the DELETE; writer's worst latency < 1 s during the
decimator; peak RSS < 150 MB. Both copies must end identical (checked). JSON into var/bench_decimate.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from .common import SERVERS, header, server, write_json

ROOT = Path(__file__).resolve().parents[1]
START = "2020-11-04 00:00:00"
INSTR = ("10AE", "10AW", "12E", "12W", "15E")
CHUNK = 500_000

SECTION = """\
[bench_decimator]
regime = regimes.cbpm3:Cbpm3
mode = decimator
source = {url}
source_tz = UTC
keep = 1h
every = 1m
batch = {batch}
rollup = {rollup}
loglevel = WARNING
"""


def _rows_sql(dialect: str, lo: int, hi: int) -> str:
    """INSERT ... SELECT of rows lo..hi: entry n = (i-1) DIV 5 at START + n/10 s (+ jitter), one row
    per instrument, the entry number in all four channels (the monitor's counter)."""
    instr = "CASE {m} " + " ".join(f"WHEN {k} THEN '{g}'" for k, g in enumerate(INSTR)) + " END"
    if dialect == "sqlite":
        n, k = "((i - 1) / 5)", "((i - 1) % 5)"
        us = f"(({n} % 10) * 100000 + ({n} * 7919 + {k} * 131) % 9000)"
        ts = f"(strftime('%Y-%m-%d %H:%M:%S', '{START}', '+' || ({n} / 10) || ' seconds') || '.' || printf('%06d', {us}))"
        nums = f"WITH RECURSIVE s(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM s WHERE i < {hi}) "
        src, i = "s", "i"
    elif dialect == "postgresql":  # bigint: n * 7919 overflows integer; mod(): psycopg reserves %
        n, k = "((i - 1) / 5)", "mod(i - 1, 5)"
        us = f"(mod({n}, 10) * 100000 + mod({n} * 7919 + {k} * 131, 9000))"
        ts = f"(TIMESTAMP '{START}' + ({n} / 10) * INTERVAL '1 second' + {us} * INTERVAL '1 microsecond')"
        nums, src, i = "", f"generate_series({lo}::bigint, {hi}::bigint) AS s(i)", "i"
    else:
        n, k = "((seq - 1) DIV 5)", "MOD(seq - 1, 5)"
        us = f"(MOD({n}, 10) * 100000 + MOD({n} * 7919 + {k} * 131, 9000))"
        ts = f"(TIMESTAMP '{START}' + INTERVAL ({n} DIV 10) SECOND + INTERVAL {us} MICROSECOND)"
        nums, src, i = "", f"seq_{lo}_to_{hi}", "seq"
    return (f"{nums}INSERT INTO cbpm3_data (id, timestamp, instr, top_in, bot_in, bot_out, top_out) "
            f"SELECT {i}, {ts}, {instr.format(m=k)}, {n}, {n}, {n}, {n} FROM {src}")


def generate(engine: sa.Engine, rows: int) -> None:
    from regimes.cbpm3 import cbpm3_table
    from scraper.db import dialects

    table = cbpm3_table(sa.MetaData())
    table.drop(engine, checkfirst=True)
    table.create(engine)
    for lo in range(1, rows + 1, CHUNK):
        with engine.begin() as conn:
            conn.exec_driver_sql(_rows_sql(engine.dialect.name, lo, min(lo + CHUNK - 1, rows)))
    with engine.begin() as conn:  # the live writer inserts without an id: PostgreSQL's serial must follow
        dialects.impl(engine).ids_given(conn, table)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:  # planner statistics, as autovacuum would soon have them
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE cbpm3_data")


def delete_sql(dialect: str, horizon: datetime) -> str:
    """The single DELETE an expert would write: rank each (instrument, minute) by (time, id), keep #1."""
    h = f"{horizon:%Y-%m-%d %H:%M:%S}"
    if dialect == "sqlite":
        minute = "CAST(strftime('%s', timestamp) AS INTEGER) / 60"
        return (f"DELETE FROM cbpm3_data WHERE timestamp < '{h}' AND id NOT IN (SELECT id FROM (SELECT id, "
                f"row_number() OVER (PARTITION BY instr, {minute} ORDER BY timestamp, id) AS rn FROM cbpm3_data "
                f"WHERE timestamp < '{h}') WHERE rn = 1)")
    if dialect == "postgresql":  # a hash anti-join of the ranked rows: every one but each slice's first
        return (f"DELETE FROM cbpm3_data d USING (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY "
                f"instr, date_trunc('minute', timestamp) ORDER BY timestamp, id) AS rn FROM cbpm3_data WHERE "
                f"timestamp < '{h}') AS ranked WHERE rn > 1) AS doomed WHERE d.id = doomed.id")
    # MariaDB runs `id NOT IN (derived table)` once per row (60 000 rows: 137 s); the multi-table
    # DELETE with an anti-join materializes the keepers once (0.7 s): the form an expert would use.
    minute = "TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', timestamp) DIV 60"
    return (f"DELETE d FROM cbpm3_data d LEFT JOIN (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY "
            f"instr, {minute} ORDER BY timestamp, id) AS rn FROM cbpm3_data WHERE timestamp < '{h}') AS ranked "
            f"WHERE rn = 1) AS k ON k.id = d.id WHERE d.timestamp < '{h}' AND k.id IS NULL")


def worker(argv: list[str]) -> int:
    """`python -m bench.decimate worker delete URL` or `... worker decimator CFG`: one timed run."""
    what, arg = argv
    if what == "delete":
        engine = sa.create_engine(arg)
        with engine.connect() as conn:
            newest = conn.execute(sa.text("SELECT max(timestamp) FROM cbpm3_data")).scalar()
        newest = datetime.fromisoformat(str(newest))
        horizon = (newest - timedelta(hours=1)).replace(second=0, microsecond=0)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            deleted = conn.exec_driver_sql(delete_sql(engine.dialect.name, horizon)).rowcount
        print(json.dumps({"run_s": time.perf_counter() - t0, "deleted": deleted, "horizon": str(horizon)}))
        return 0
    from scraper import commands

    cfg = commands.settings(arg, "bench_decimator")
    t0 = time.perf_counter()
    summary = commands.run(cfg, catchup=True, allow_create=True)
    t = summary.totals
    print(json.dumps({"run_s": time.perf_counter() - t0, "deleted": t.deleted, "kept": t.kept,
                      "slices": t.slices, "rollup_rows": t.rollup_rows}))
    return 0


def contender(kind: str, arg: str, url: str, workdir: Path, rows: int) -> dict:
    report = workdir / f"writer_{kind}.json"
    writer = subprocess.Popen([sys.executable, str(ROOT / "tests" / "live_writer.py"), url, str(report)], cwd=ROOT)
    # The writer writes before the contender starts, so both contenders see the same newest minute
    # (and hence horizon) for the next minute of the writer's DB time.
    engine = sa.create_engine(url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(sa.text("SELECT max(id) FROM cbpm3_data")).scalar() > rows:
                break
        time.sleep(0.05)
    engine.dispose()
    proc = subprocess.Popen([sys.executable, "-m", "bench.decimate", "worker", kind, arg], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.perf_counter()
    out, err = proc.stdout.read(), proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    report.unlink(missing_ok=True)
    writer.terminate()
    writer.wait(60)
    if not report.exists():
        raise SystemExit(f"the live writer died during {kind} (see its traceback above)")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{kind} failed:\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    w = json.loads(report.read_text())
    result.update(wall_s=wall, peak_rss_mb=usage.ru_maxrss / 1024, writer_writes=w["writes"], writer_failed=w["failed"],
                  writer_max_s=w["max_s"], writer_p99_s=w["p99_s"])
    return result


def fingerprint(url: str, rows: int, horizon: str) -> tuple:
    """What thinning left of the generated rows (ids 1..rows; the live writer's come after) before
    the DELETE's horizon: a long decimator run beside the writer goes on to the slices the writer's
    newer rows close meanwhile, as a live decimator should."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            # coalesce: a table younger than keep has nothing before the horizon (sum() of no rows is NULL)
            return tuple(int(v) for v in conn.execute(sa.text(
                f"SELECT count(*), coalesce(sum(id), 0), coalesce(sum(top_in), 0) FROM cbpm3_data "
                f"WHERE id <= {rows} AND timestamp < '{horizon}'")).one())
    finally:
        engine.dispose()


def bench_backend(name: str, urls: dict, rows: int, batch: int, workdir: Path, copy) -> dict:
    out: dict = {"backend": name, "rows": rows}
    t0 = time.perf_counter()
    engine = sa.create_engine(urls["template"])
    generate(engine, rows)
    engine.dispose()
    out["generate_s"] = time.perf_counter() - t0
    print(f"[{name}] generated {rows} rows in {out['generate_s']:.1f}s", flush=True)
    for kind, target, rollup in (("delete", "delete", ""), ("decimator", "decimator", ""),
                                 ("decimator_rollup", "decimator", "cbpm3_rollup")):
        copy(urls["template"], urls[kind])
        if target == "delete":
            arg = urls[kind]
        else:
            cfg = workdir / f"bench_{name}_{kind}.cfg"
            cfg.write_text(SECTION.format(url=urls[kind], batch=batch, rollup=rollup))
            arg = str(cfg)
        r = contender(target, arg, urls[kind], workdir, rows)
        r["fingerprint"] = fingerprint(urls[kind], rows, out["delete"]["horizon"] if kind != "delete" else r["horizon"])
        out[kind] = r
        print(f"[{name}] {kind}: {r['run_s']:.2f}s, deleted {r['deleted']}, peak RSS {r['peak_rss_mb']:.0f} MB; "
              f"live writer {r['writer_writes']} commits ({r['writer_failed']} failed), worst {r['writer_max_s'] * 1000:.0f} ms, "
              f"p99 {r['writer_p99_s'] * 1000:.0f} ms", flush=True)
    assert out["delete"]["fingerprint"] == out["decimator"]["fingerprint"] == out["decimator_rollup"]["fingerprint"], out
    out["ratio"] = out["decimator"]["run_s"] / out["delete"]["run_s"]
    out["ratio_rollup"] = out["decimator_rollup"]["run_s"] / out["delete"]["run_s"]
    print(f"[{name}] decimator / DELETE = {out['ratio']:.2f} (target <= 1.5), with rollup {out['ratio_rollup']:.2f}; "
          f"writer's worst during the decimator {out['decimator']['writer_max_s'] * 1000:.0f} ms (target < 1000) "
          f"vs during the DELETE {out['delete']['writer_max_s'] * 1000:.0f} ms", flush=True)
    return out


def _copier(name: str, db_server):
    """copy(template URL, URL): the template's cbpm3_data alone into the other database, fresh."""
    def mariadb(a: str, b: str) -> None:
        engine = sa.create_engine(b)
        with engine.begin() as conn:
            for table in ("cbpm3_data", "cbpm3_rollup", "decimator_cursor"):
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
            conn.exec_driver_sql("CREATE TABLE cbpm3_data LIKE bench_template.cbpm3_data")
            conn.exec_driver_sql("INSERT INTO cbpm3_data SELECT * FROM bench_template.cbpm3_data")
        engine.dispose()

    def postgresql(a: str, b: str) -> None:
        # no cross-database INSERT ... SELECT: a database made from the template is the copy (its
        # serial's sequence and planner statistics included)
        new, template = sa.make_url(b).database, sa.make_url(a).database
        with db_server.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{new}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{new}" TEMPLATE "{template}"')

    return {"mariadb": mariadb, "postgresql": postgresql}[name]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "worker":
        return worker(argv[1:])
    p = argparse.ArgumentParser(prog="python -m bench.decimate", description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=4_320_000, help="entries (5 instruments x 10 Hz x 24 h)")
    p.add_argument("--batch", type=int, default=20_000, help="decimator: rows per transaction")
    p.add_argument("--backends", default="sqlite,mariadb,postgresql")
    p.add_argument("--json", default=str(ROOT / "var" / "bench_decimate.json"))
    args = p.parse_args(argv)
    workdir = ROOT / "var" / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    results = header(args, backends=[])
    kinds = ("template", "delete", "decimator", "decimator_rollup")
    for name in args.backends.split(","):
        if name == "sqlite":
            files = {k: workdir / f"decimate_{k}.db" for k in kinds}
            for f in workdir.glob("decimate_*.db*"):
                f.unlink()

            def copy(a: str, b: str) -> None:
                src, dst = Path(a.split("///", 1)[1]), Path(b.split("///", 1)[1])
                for suffix in ("-wal", "-shm"):
                    Path(str(dst) + suffix).unlink(missing_ok=True)
                shutil.copyfile(src, dst)

            urls = {k: f"sqlite:///{f}" for k, f in files.items()}
            results["backends"].append(bench_backend(name, urls, args.rows, args.batch, workdir, copy))
        elif name in SERVERS:
            with server(name) as db_server:
                for k in kinds:
                    db_server.create_database(f"bench_{k}")
                urls = {k: db_server.url(f"bench_{k}") for k in kinds}
                copy = _copier(name, db_server)
                results["backends"].append(bench_backend(name, urls, args.rows, args.batch, workdir, copy))
        else:
            raise SystemExit(f"unknown backend {name} (use sqlite, mariadb, postgresql)")
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
