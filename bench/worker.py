"""One measured run, in its own process so that its peak RSS is its own (the parent reads it with
os.wait4). Prints one JSON line: seconds spent in start-up and in the run, and what the run did.

    python -m bench.worker CFG SECTION {scraper,averager,raw} [JSON-overrides]
"""
from __future__ import annotations

import json
import sys
import time
from datetime import datetime

import sqlalchemy as sa

from regimes.adlid import FUNCTIONS
from scraper import commands
from scraper import db
from scraper.modes.average import Averager
from scraper.modes.scrape import Engine
from scraper.core.sourcevector import Instance
from fakers.schemas import LID


def raw_group_by_sql(dialect: str, table: str, hi: str, offset_s: int, bin_s: int) -> str:
    """The hand-written single query an expert would run for the same hourly averages."""
    if dialect == "sqlite":
        binx = f"(CAST(strftime('%s', date_time) AS INTEGER) - {offset_s}) / {bin_s}"
        std = "sqrt(max(avg({c}*{c}) - avg({c})*avg({c}), 0))"
    else:
        binx = f"(TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', date_time) - {offset_s}) DIV {bin_s}"
        std = "STD({c})"
    cols = []
    for c in LID:
        for fn in FUNCTIONS:
            cols.append(std.format(c=c) if fn == "std" else f"{fn}({c})")
    return (f"SELECT {binx} AS b, count(*), min(date_time), max(date_time), {', '.join(cols)} "
            f"FROM {table} WHERE Quality != 0 AND date_time < '{hi}' GROUP BY b ORDER BY b")


def naive_loop(engine: Engine, max_samples: int) -> tuple[int, int]:
    """The original framework's loop: one `SELECT ... ORDER BY date_time, id LIMIT 1` per sample on one
    persistent connection, then the same SourceVector rules and the same DBI writes as the engine."""
    cfg, reader, sv = engine.cfg, engine.readers[0], engine.svs[0]
    samples = propagations = 0
    with engine.source_engine.connect() as conn:
        while not max_samples or samples < max_samples:
            t, i = sv.last_key or (sv.tcursor, -1)
            # the lower bound makes the database start its index walk at the cursor, not at timefloor
            stmt = (reader.query.where(reader.dt >= max(sv.tcursor, t, cfg.timefloor),
                                       sa.or_(reader.dt > t, sa.and_(reader.dt == t, reader.id > i)))
                    .order_by(reader.dt, reader.id).limit(1))
            row = conn.execute(stmt).mappings().first()
            conn.rollback()  # end the read transaction, as autocommit did for the original
            if row is None:
                break
            samples += 1
            sv.sample(Instance(dict(row)), engine.scraper.changed, cfg.maxage)
            if sv.proceed:
                engine._propagate(sv, reader)
                engine.flush()  # the original wrote each propagation in its own transaction
                propagations += 1
    return samples, propagations


def naive_dbapi_loop(engine: Engine, max_samples: int) -> tuple[int, int]:
    """The leanest possible per-sample loop: one prepared SQL string executed per sample on a raw DBAPI
    cursor, no SQL toolkit in between. A lower bound on what any one-query-per-sample design costs."""
    cfg, reader, sv = engine.cfg, engine.readers[0], engine.svs[0]
    sqlite = engine.source_engine.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    cols = [c.name for c in reader.main.c]
    sql = (f"SELECT {', '.join(cols)} FROM {reader.main.name} WHERE date_time >= {mark} AND "
           f"(date_time > {mark} OR (date_time = {mark} AND id > {mark})) ORDER BY date_time, id LIMIT 1")
    fmt = (lambda t: t.strftime("%Y-%m-%d %H:%M:%S.%f")) if sqlite else (lambda t: t)
    samples = propagations = 0
    raw = engine.source_engine.raw_connection()
    try:
        cur = raw.cursor()
        while not max_samples or samples < max_samples:
            t, i = sv.last_key or (sv.tcursor, -1)
            low = max(sv.tcursor, t, cfg.timefloor)
            cur.execute(sql, (fmt(low), fmt(t), fmt(t), i))
            row = cur.fetchone()
            raw.rollback()
            if row is None:
                break
            values = dict(zip(cols, row))
            if sqlite:
                values["date_time"] = datetime.fromisoformat(values["date_time"])
            samples += 1
            sv.sample(Instance(values), engine.scraper.changed, cfg.maxage)
            if sv.proceed:
                engine._propagate(sv, reader)
                engine.flush()  # the original wrote each propagation in its own transaction
                propagations += 1
    finally:
        raw.close()
    return samples, propagations


def main(argv: list[str]) -> dict:
    cfg_path, section, mode = argv[:3]
    overrides = json.loads(argv[3]) if len(argv) > 3 else {}
    cfg = commands.settings(cfg_path, section, overrides)
    t0 = time.perf_counter()
    if mode == "raw":
        engine = db.connect(cfg, "source")
        with engine.connect() as conn:
            latest = conn.execute(sa.text("SELECT max(date_time) FROM AD1_LidSensor")).scalar()
            hi = str(latest)[:13] + ":00:00"  # start of the (open) hour holding the latest entry
            t1 = time.perf_counter()
            rows = conn.exec_driver_sql(raw_group_by_sql(engine.dialect.name, "AD1_LidSensor", hi,
                                                         int(overrides.get("offset_s", 28800)), 3600)).fetchall()
        t2 = time.perf_counter()
        return {"init_s": t1 - t0, "run_s": t2 - t1, "bins": len(rows), "entries": sum(r[1] for r in rows)}
    if mode in ("naive", "naive_dbapi"):
        runner = Engine(cfg, allow_create=True, drop=True, catchup=True)
        loop = naive_loop if mode == "naive" else naive_dbapi_loop
        t1 = time.perf_counter()
        try:
            samples, propagations = loop(runner, int(overrides.get("maxiter") or 0))
        finally:
            runner.close()
        t2 = time.perf_counter()
        return {"init_s": t1 - t0, "run_s": t2 - t1, "samples": samples, "propagations": propagations,
                "queries": samples + 1}
    if mode == "averager":
        runner = Averager(cfg, allow_create=True, drop=True)
    else:
        runner = Engine(cfg, allow_create=True, drop=True, catchup=True)
    t1 = time.perf_counter()
    try:
        summary = runner.run()
    finally:
        runner.close()
    t2 = time.perf_counter()
    return {"init_s": t1 - t0, "run_s": t2 - t1, "samples": summary.samples, "entries": summary.entries_read,
            "propagations": summary.propagations, "queries": summary.queries}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
