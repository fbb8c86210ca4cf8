"""One measured run, in its own process so that its peak RSS is its own (the parent reads it with
os.wait4). Prints one JSON line: seconds spent in start-up and in the run, and what the run did.

    python -m bench.worker CFG SECTION {scraper,averager,raw} [JSON-overrides]
"""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from datetime import datetime, timedelta

import sqlalchemy as sa

from regimes.adlid import FUNCTIONS
from regimes.adtemp import PT, AdTemp, AdTempScraper
from scraper import commands
from scraper import db
from scraper.modes.average import Averager
from scraper.modes.scrape import Scrape
from scraper.runtime.runner import Runner, RunOptions
from scraper.core.sourcevector import Instance
from regimes.adlid import LID


def raw_group_by_sql(dialect: str, table: str, hi: str, offset_s: int, bin_s: int) -> str:
    """The hand-written single query an expert would run for the same hourly averages."""
    q = (lambda name: f'"{name}"') if dialect == "postgresql" else (lambda name: name)
    if dialect == "sqlite":
        binx = f"(CAST(strftime('%s', date_time) AS INTEGER) - {offset_s}) / {bin_s}"
        std = "sqrt(max(avg({c}*{c}) - avg({c})*avg({c}), 0))"
    elif dialect == "postgresql":
        binx = f"(floor(extract(epoch FROM date_time))::bigint - {offset_s}) / {bin_s}"
        std = "stddev_pop({c})"
    else:
        binx = f"(TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', date_time) - {offset_s}) DIV {bin_s}"
        std = "STD({c})"
    cols = []
    for c in LID:
        for fn in FUNCTIONS:
            cols.append(std.format(c=q(c)) if fn == "std" else f"{fn}({q(c)})")
    return (f"SELECT {binx} AS b, count(*), min(date_time), max(date_time), {', '.join(cols)} "
            f"FROM {q(table)} WHERE {q('Quality')} != 0 AND date_time < '{hi}' GROUP BY b ORDER BY b")


def naive_loop(engine: Scrape, max_samples: int) -> tuple[int, int]:
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


def naive_dbapi_loop(engine: Scrape, max_samples: int) -> tuple[int, int]:
    """The leanest possible per-sample loop: one prepared SQL string executed per sample on a raw DBAPI
    cursor, no SQL toolkit in between. A lower bound on what any one-query-per-sample design costs."""
    cfg, reader, sv = engine.cfg, engine.readers[0], engine.svs[0]
    sqlite = engine.source_engine.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    cols = [c.name for c in reader.main.c]
    q = engine.source_engine.dialect.identifier_preparer.quote
    sql = (f"SELECT {', '.join(map(q, cols))} FROM {q(reader.main.name)} WHERE date_time >= {mark} AND "
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


class FreeFormScraper(AdTempScraper):
    """adtemp's rule written as a free-form changed(): what the engine must judge in Python."""

    def changed(self, sv) -> bool:
        old, new = sv[0], sv[-1]
        return any(abs(new[c] - old[c]) > self.threshold for c in PT)


class FreeFormAdTemp(AdTemp):
    scraper = FreeFormScraper


def raw_pass(cfg) -> dict:
    """Every row of the adtemp table once through a raw DBAPI cursor, no processing: the floor of any
    design that reads every entry into Python."""
    engine = db.connect(cfg, "source")
    raw = engine.raw_connection()
    try:
        t1, c1 = time.perf_counter(), time.process_time()
        cur = raw.cursor()
        q = engine.dialect.identifier_preparer.quote  # PostgreSQL folds unquoted mixed-case names
        cur.execute(f"SELECT * FROM {q('DBNS_SAB_Temp')} ORDER BY date_time, id")
        rows = 0
        while chunk := cur.fetchmany(10_000):
            rows += len(chunk)
        t2, c2 = time.perf_counter(), time.process_time()
    finally:
        raw.close()
    return {"run_s": t2 - t1, "cpu_s": c2 - c1, "rows": rows}


def scan_predicate(cfg, unchanged: bool = False) -> dict:
    """One SQL statement scanning the same rows with the rule's own predicate (sv[0] = the first entry,
    plus the maxage test): the floor of any design that lets the database judge the entries.

    `unchanged`: the same statement with a threshold and maxage no entry reaches, so that every term
    is evaluated on every row, as a skip search evaluates them on an unchanged entry. With sv[0] the
    first entry, the temperatures soon drift away from it and the first term ends most rows' test."""
    from scraper.sources.sql.spans import First

    engine = db.connect(cfg, "source")
    table = sa.Table("DBNS_SAB_Temp", sa.MetaData(), autoload_with=engine)
    scraper = AdTempScraper(cfg, AdTemp.target)
    if unchanged:
        scraper.threshold = 1e12
    first = First(table.c)
    with engine.connect() as conn:
        row = conn.execute(sa.select(table).order_by(table.c.date_time, table.c.id).limit(1)).mappings().one()
        cond = scraper.change.sql(scraper, first, table.c, 0.0 if engine.dialect.name == "sqlite" else 1e-6)
        stmt = sa.select(sa.func.count()).select_from(table).where(
            table.c.date_time >= row["date_time"],
            sa.or_(cond, table.c.date_time > sa.bindparam("_limit", type_=table.c.date_time.type)))
        limit = row["date_time"] + (timedelta(days=365 * 1000) if unchanged else cfg.maxage)
        params = {**first.values(Instance(row)), "_limit": limit}
        t1, c1 = time.perf_counter(), time.process_time()
        n = conn.execute(stmt, params).scalar()
        t2, c2 = time.perf_counter(), time.process_time()
    return {"run_s": t2 - t1, "cpu_s": c2 - c1, "matching": n}


def main(argv: list[str]) -> dict:
    cfg_path, section, mode = argv[:3]
    overrides = json.loads(argv[3]) if len(argv) > 3 else {}
    cfg = commands.settings(cfg_path, section, overrides)
    # as scr.py does: the configured level (default INFO), lines to a file as under supervisord
    logging.basicConfig(level=cfg.loglevel, filename=str(Path(cfg_path).with_suffix(f".{mode}.log")),
                        filemode="w", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if mode == "raw_pass":
        return raw_pass(cfg)
    if mode in ("scan", "scan_unchanged"):
        return scan_predicate(cfg, unchanged=mode == "scan_unchanged")
    t0 = time.perf_counter()
    if mode == "raw":
        engine = db.connect(cfg, "source")
        with engine.connect() as conn:
            table = engine.dialect.identifier_preparer.quote("AD1_LidSensor")
            latest = conn.execute(sa.text(f"SELECT max(date_time) FROM {table}")).scalar()
            hi = str(latest)[:13] + ":00:00"  # start of the (open) hour holding the latest entry
            t1, c1 = time.perf_counter(), time.process_time()
            rows = conn.exec_driver_sql(raw_group_by_sql(engine.dialect.name, "AD1_LidSensor", hi,
                                                         int(overrides.get("offset_s", 28800)), 3600)).fetchall()
        t2, c2 = time.perf_counter(), time.process_time()
        return {"init_s": t1 - t0, "run_s": t2 - t1, "cpu_s": c2 - c1, "bins": len(rows), "entries": sum(r[1] for r in rows)}
    if mode in ("naive", "naive_dbapi"):
        runner = Scrape.start(cfg, allow_create=True, drop=True, catchup=True)
        loop = naive_loop if mode == "naive" else naive_dbapi_loop
        t1, c1 = time.perf_counter(), time.process_time()
        try:
            samples, propagations = loop(runner, int(overrides.get("maxiter") or 0))
        finally:
            runner.close()
        t2, c2 = time.perf_counter(), time.process_time()
        return {"init_s": t1 - t0, "run_s": t2 - t1, "cpu_s": c2 - c1, "samples": samples, "propagations": propagations,
                "queries": samples + 1}
    if mode == "averager":
        job = Averager(cfg, Runner(cfg, RunOptions(allow_create=True, drop=True)))
        run = lambda: (job.runner.run(job), job.summarize())[1]  # noqa: E731
    else:
        job = Scrape.start(cfg, allow_create=True, drop=True, catchup=True)
        run = job.run
    t1, c1 = time.perf_counter(), time.process_time()
    try:
        summary = run()
    finally:
        job.close()
    t2, c2 = time.perf_counter(), time.process_time()
    return {"init_s": t1 - t0, "run_s": t2 - t1, "cpu_s": c2 - c1, "samples": summary.samples, "entries": summary.entries_read,
            "propagations": summary.propagations, "queries": summary.queries}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
