"""Sources as real DCS databases write them (SQLite): every time spelling scrapes exactly like the
canonical source, restarts and catch-up included, with the time index used and the source untouched."""
from __future__ import annotations

import hashlib
import os
import random
import re
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from dcs_writers import SQLITE_FORMS, append_sqlite, dcs_rows, sqlite_source
from factories import create_adtemp, insert
from scraper import db
from scraper.errors import ConfigError
from scraper.modes.scrape import Scrape
from scraper.sources.sql.reader import SourceReader
from scraper.api import Source
from support import scrape, target_rows

REGIME = {"regime": "regimes.adtemp:AdTemp", "interval": "10s", "maxage": "2m", "threshold": 0.5,
          "timefloor": "2011-02-01 00:00:00"}
FORMS = [pytest.param(form, declared, whole, id=f"{form}[{declared or 'untyped'}]")
         for form, declared, whole in SQLITE_FORMS]

LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING) ")


def _canonical(dbs, rows, name="canon.db") -> str:
    """The same entries written by the scraper's own SQLAlchemy models: the reference spelling."""
    url = f"sqlite:///{dbs.tmp_path / name}"
    eng = sa.create_engine(url)
    insert(eng, create_adtemp(eng), rows)
    eng.dispose()
    return url


def _run(dbs, source: str, kls: str, overrides=None, **keys):
    cfg = dbs.settings(overrides=overrides, **{**REGIME, "source": source, "kls": kls, **keys})
    return scrape(cfg)


@pytest.mark.parametrize("form,declared,whole", FORMS)
def test_every_spelling_gives_the_canonical_target_batched_live_and_restarted(sqlite_dbs, form, declared, whole):
    dbs = sqlite_dbs
    rows = dcs_rows(300, seed=11, whole_seconds=whole)
    canon = _canonical(dbs, rows)
    spelled = dbs.tmp_path / "spelled.db"
    sqlite_source(spelled, form, declared, rows)
    src = f"sqlite:///{spelled}"
    target = dbs.engine("target")

    _run(dbs, canon, "Ref")
    expected = target_rows(target, "Ref")
    assert len(expected) > 20

    summary = _run(dbs, src, "Batched")  # catch-up in batches, the database skipping unchanged entries
    assert target_rows(target, "Batched") == expected
    _run(dbs, src, "Live", batch=1, skip_in_database=False)  # sample by sample, every entry in Python
    assert target_rows(target, "Live") == expected

    rng = random.Random(form)
    for _ in range(200):  # stopped after a random number of samples, restarted from the target
        if _run(dbs, src, "Restarted", overrides={"maxiter": rng.randint(1, 40)}, batch=rng.choice([1, 7, 500])).caught_up:
            break
    assert target_rows(target, "Restarted") == expected


@pytest.mark.parametrize("form,declared,whole", FORMS)
def test_late_rows_and_appended_entries_are_seen_the_same_in_every_spelling(sqlite_dbs, form, declared, whole):
    dbs = sqlite_dbs
    rows = dcs_rows(200, seed=5, whole_seconds=whole, nulls=False)
    first, later = rows[:150], rows[150:]
    late = {**rows[40], "id": 1000, "Temp_PT1": 99.0}  # committed late, far behind the cursor
    canon = _canonical(dbs, first)
    spelled = dbs.tmp_path / "spelled.db"
    sqlite_source(spelled, form, declared, first)
    engines = {kls: Scrape.start(dbs.settings(section=kls, **{**REGIME, "source": url, "kls": kls}),  # one lease each
                                 allow_create=True, catchup=True)
               for url, kls in ((canon, "Ref"), (f"sqlite:///{spelled}", "Spelled"))}
    try:
        seen = {kls: [eng.run().entries_read] for kls, eng in engines.items()}
        eng = sa.create_engine(canon)
        insert(eng, sa.Table("DBNS_SAB_Temp", sa.MetaData(), autoload_with=eng), [*later, late])
        eng.dispose()
        con = sqlite3.connect(spelled)
        append_sqlite(con, form, [*later, late])
        con.close()
        for kls, eng in engines.items():  # the same process goes on: its late check sees the new rows
            summary = eng.run()
            seen[kls] += [summary.entries_read, summary.late]
    finally:
        for eng in engines.values():
            eng.close()
    target = dbs.engine("target")
    assert target_rows(target, "Spelled") == target_rows(target, "Ref")
    assert seen["Spelled"] == seen["Ref"] and seen["Ref"][-1] == 1


@pytest.mark.parametrize("form,declared,whole", FORMS)
def test_the_database_skips_and_counts_exactly_in_every_spelling(sqlite_dbs, form, declared, whole):
    """Long unchanged stretches, judged and counted by the skip search itself (its count is bounded by
    the time of the entry it finds, as that row spells it): the target and the counts of judging every
    entry in Python, with shared timestamps and ids out of time order in the stretches, and changed
    entries sharing their time with an unchanged one before them."""
    dbs = sqlite_dbs
    rows = []
    for k, row in enumerate(dcs_rows(2000, seed=7, whole_seconds=whole, nulls=False)):
        rows.append({**row, "id": 2 * row["id"]})
        if k % 150 == 50:  # its twin: the same time, the next id, a jump
            rows.append({**row, "id": 2 * row["id"] + 1, "Temp_PT1": row["Temp_PT1"] + 10})
    spelled = dbs.tmp_path / "spelled.db"
    sqlite_source(spelled, form, declared, rows)
    keys = {"maxage": "1w", "threshold": 2.0}
    python = _run(dbs, f"sqlite:///{spelled}", "Python", skip_in_database=False, **keys)
    sql = _run(dbs, f"sqlite:///{spelled}", "Sql", **keys)
    target = dbs.engine("target")
    assert target_rows(target, "Sql") == target_rows(target, "Python")
    assert (sql.entries_read, sql.propagations, sql.late) == (python.entries_read, python.propagations, python.late)
    assert python.propagations > 10 and sql.skipped > 1500, sql  # most entries never reached Python


@pytest.mark.parametrize("form,declared,whole", FORMS)
def test_the_time_index_is_used_and_the_source_is_opened_read_only(sqlite_dbs, form, declared, whole):
    dbs = sqlite_dbs
    spelled = dbs.tmp_path / "spelled.db"
    sqlite_source(spelled, form, declared, dcs_rows(50, seed=1, whole_seconds=whole))
    before = hashlib.sha256(spelled.read_bytes()).hexdigest()
    cfg = dbs.settings(**{**REGIME, "source": f"sqlite:///{spelled}"})
    engine = db.connect(cfg, "source", readonly=True)
    try:
        reader = SourceReader(engine, Source("DBNS_SAB_Temp"), cfg, 100)
        t = datetime(2011, 2, 1, 0, 3, 10)
        statements = [
            reader.batch_statement(t, (t, 5), 10),  # a batch, as the reader runs it
            reader.query.where(reader.dt.in_([t])),  # the entry at a bookmark
            sa.select(sa.func.count()).where(reader.dt >= t, reader.dt < t + timedelta(hours=1)),  # aggregation
        ]
        with engine.connect() as conn:
            for stmt in statements:
                sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
                plan = " ".join(r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
                assert "DBNS_SAB_Temp_dt" in plan and "date_time>" in plan.replace(" ", ""), (sql, plan)
            with pytest.raises(sa.exc.OperationalError, match="readonly"):
                conn.exec_driver_sql('DELETE FROM "DBNS_SAB_Temp"')
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"  # never switched to WAL
    finally:
        engine.dispose()
    scrape(cfg)
    assert hashlib.sha256(spelled.read_bytes()).hexdigest() == before
    assert not Path(f"{spelled}-wal").exists()


def test_a_source_in_a_directory_the_scraper_cannot_write_is_scraped(sqlite_dbs, tmp_path):
    """As the original framework advises: scrape with read-only permissions on the DCS source. Root
    writes anywhere, so as root the scraper runs without the capability that lets it (setpriv)."""
    srcdir = tmp_path / "dcs"
    srcdir.mkdir()
    sqlite_source(srcdir / "dcs.db", "text-space", "TEXT", dcs_rows(100, seed=2))
    os.chmod(srcdir / "dcs.db", 0o444)
    os.chmod(srcdir, 0o555)
    cfg = tmp_path / "scraper.cfg"
    cfg.write_text("[s]\n" + "".join(f"{k} = {v}\n" for k, v in {
        **REGIME, "source": f"sqlite:///{srcdir / 'dcs.db'}", "target": f"sqlite:///{tmp_path / 'offline.db'}"}.items()))
    drop = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]
    try:
        if os.geteuid() == 0:
            probe = subprocess.run([*drop, "touch", str(srcdir / "probe")], capture_output=True)
            if probe.returncode == 0:
                pytest.skip("cannot drop the capability to write a read-only directory here")
        out = subprocess.run([*(drop if os.geteuid() == 0 else []), sys.executable, "-m", "scraper", "--cfg", str(cfg),
                              "-s", "s", "--catchup", "--ALLOW_DROP_CREATE_TABLE", "--loglevel", "WARNING"],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-2000:]
        assert re.search(r"propagations written [1-9]", out.stdout), out.stdout
        assert sorted(p.name for p in srcdir.iterdir()) == ["dcs.db"]
    finally:
        os.chmod(srcdir, 0o755)


@pytest.mark.parametrize("values,needle", [
    (["2011-02-01 00:00:10", "yesterday"], "'yesterday' (id 2), which is not a time"),
    (["2011-02-01 00:00:10", "2011-02-01T00:00:20"], 'mixes the separators " " and "T"'),
    (["2011-02-01 00:00:10", 1296518420], "mixes text"),
    # the form, but no such day: found while reading, after the checks at start-up
    (["2011-02-01 00:00:10", "2011-02-01 00:00:20", "2011-02-30 00:00:30"], "'2011-02-30 00:00:30' is not a time"),
])
def test_a_time_column_holding_something_else_is_one_line_exit_2(sqlite_dbs, values, needle):
    dbs = sqlite_dbs
    path = dbs.tmp_path / "bad.db"
    con = sqlite3.connect(path)
    con.execute('CREATE TABLE "DBNS_SAB_Temp" (id INTEGER PRIMARY KEY, date_time, Temp_PT1, Temp_PT2, Temp_PT3, '
                'Temp_PT4, Temp_PT5)')
    con.executemany('INSERT INTO "DBNS_SAB_Temp" (id, date_time, Temp_PT1) VALUES (?, ?, 1)', enumerate(values, 1))
    con.commit()
    con.close()
    cfg_path = dbs.write_cfg({"s": {**REGIME, "source": f"sqlite:///{path}"}})
    out = subprocess.run([sys.executable, "-m", "scraper", "--cfg", str(cfg_path), "-s", "s", "--catchup",
                          "--ALLOW_DROP_CREATE_TABLE"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr[-2000:]
    # one line besides the run's own log (found while reading, the run has begun)
    lines = [line for line in out.stderr.strip().splitlines() if not LOG_LINE.match(line)]
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert "[s] source:" in lines[0] and needle in lines[0]


def test_epoch_seconds_need_source_tz_utc(sqlite_dbs):
    dbs = sqlite_dbs
    path = dbs.tmp_path / "epoch.db"
    sqlite_source(path, "epoch-integer", "INTEGER", dcs_rows(10, seed=1, whole_seconds=True))
    with pytest.raises(ConfigError) as err:
        scrape(dbs.settings(**{**REGIME, "source": f"sqlite:///{path}", "source_tz": "Asia/Shanghai"}))
    assert err.value.key == "source_tz" and "unix-epoch seconds" in err.value.message
