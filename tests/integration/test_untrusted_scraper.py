"""Scraper: entries dated ahead of the wall clock are not data yet (docs/operations.md, data that
cannot be trusted). Real databases, times near the real clock."""
from __future__ import annotations

import logging
import random
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from factories import create_adtemp, insert
from scraper.core import wallclock
from scraper.modes.scrape import Scrape
from processes import running, spawn, wait_for, with_modules
from support import FRAGILE_REGIME, Databases, scrape, target_rows
from regimes.adtemp import PT, adtemp_tables
from untrusted import future_times, live_rows, spoil, utc_now

REGIME = {"regime": "regimes.adtemp:AdTemp", "interval": "10s", "maxage": "3m", "threshold": 0.5,
          "heartbeat": "10s", "timefloor": "2020-01-01 00:00:00"}


def test_rows_from_the_future_are_not_read_and_change_nothing_real_clock(dbs, caplog):
    src, tgt = dbs.engine("source"), dbs.engine("target")
    table = create_adtemp(src)
    now = utc_now()
    rows = live_rows(300, now - timedelta(seconds=5))
    insert(src, table, rows)
    clean = scrape(dbs.settings(**REGIME))
    expected = target_rows(tgt, "DcsAdTemp")
    assert clean.propagations > 5 and clean.future == 0
    rng = random.Random(3)
    ahead = [{**rows[rng.randrange(len(rows))], "id": 1000 + k, "date_time": t, "Temp_PT1": 99.0}
             for k, t in enumerate(future_times(now, rng, 6))]
    insert(src, table, ahead)
    with caplog.at_level(logging.WARNING, logger="scraper.future"):
        summary = scrape(dbs.settings(**REGIME), drop=True)
    assert target_rows(tgt, "DcsAdTemp") == expected
    assert summary.future == 6 and summary.entries_read == clean.entries_read
    assert "entries ahead of the clock not read yet 6" in summary.text()
    logged = [r.getMessage() for r in caplog.records if r.name == "scraper.future"]
    assert len(logged) == 6 and all("ahead of the clock" in m for m in logged)
    assert any("id=1000 " in m for m in logged)
    # a second run logs them again (once per run), and still reads none of them
    again = scrape(dbs.settings(**REGIME))
    assert again.propagations == 0 and again.future == 6


def test_a_future_row_is_read_in_its_place_once_the_clock_reaches_it(dbs, monkeypatch):
    src, tgt = dbs.engine("source"), dbs.engine("target")
    table = create_adtemp(src)
    real = wallclock.now_utc()
    rows = live_rows(1500, real.replace(microsecond=0) + timedelta(hours=2), seed=5)  # from 2 h ago
    insert(src, table, rows)
    # the whole run over the source, with the clock three hours ahead: the reference
    monkeypatch.setattr(wallclock, "now_utc", lambda: real + timedelta(hours=3))
    scrape(dbs.settings(**REGIME))
    expected = target_rows(tgt, "DcsAdTemp")
    # now the clock is real: entries up to now + 5 min are data, the rest wait
    monkeypatch.setattr(wallclock, "now_utc", lambda: real)
    first = scrape(dbs.settings(**REGIME), drop=True)
    assert first.future > 0
    got = target_rows(tgt, "DcsAdTemp")
    assert got == expected[:len(got)] and len(got) < len(expected)
    assert max(r[1] for r in got) <= real + timedelta(minutes=5)
    # the clock moves on: what was ahead is read in its place, and the target is the reference's
    monkeypatch.setattr(wallclock, "now_utc", lambda: real + timedelta(hours=3))
    second = scrape(dbs.settings(**REGIME))
    assert second.future == 0 and second.late == 0
    assert target_rows(tgt, "DcsAdTemp") == expected


def scr(cfg_path, *args, path=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scraper", "--cfg", str(cfg_path), *args], capture_output=True,
                          text=True, timeout=300, env=with_modules(path) if path else None)


def test_status_warns_of_entries_ahead_of_the_clock_and_says_a_run_ended_on_an_error(dbs, tmp_path):
    src = dbs.engine("source")
    table = create_adtemp(src)
    rows = live_rows(200, utc_now() - timedelta(seconds=5))
    insert(src, table, rows)
    (tmp_path / "fragile.py").write_text(FRAGILE_REGIME)
    cfg = dbs.write_cfg({"live": {**REGIME, "metrics_every": "1s"},
                         "fragile": {**REGIME, "regime": "fragile:Fragile", "kls": "DcsFragile"}})
    done = scr(cfg, "-s", "live", "--catchup", "--ALLOW_DROP_CREATE_TABLE")
    assert done.returncode == 0, done.stderr
    insert(src, table, [{**rows[-1], "id": 500, "date_time": datetime(2099, 1, 1)}])
    status = scr(cfg, "status")
    line = next(ln for ln in status.stdout.splitlines() if ln.startswith("live "))
    assert " WARNING " in line and "1 entries dated ahead of the clock" in line, status.stdout
    assert "-" not in line.split()[3]  # LAG: never negative
    assert status.returncode == 1
    # a run that ends on an error (a regime failing on a NULL reading) leaves its section in ERROR
    insert(src, table, [{**rows[-1], "id": 501, "date_time": rows[-1]["date_time"] + timedelta(seconds=1),
                         "Temp_PT1": None}])
    failed = scr(cfg, "-s", "fragile", "--catchup", "--ALLOW_DROP_CREATE_TABLE", path=tmp_path)
    assert failed.returncode not in (0, 2), failed.stderr
    status = scr(cfg, "status", path=tmp_path)
    line = next(ln for ln in status.stdout.splitlines() if ln.startswith("fragile "))
    assert " ERROR " in line and "the last run ended on an error" in line, status.stdout


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bad_rows_among_live_entries_change_nothing_but_what_they_are(dbs, seed, caplog):
    """Property: random bad rows (future by minutes to decades, 1970, NULL times, values of the wrong
    kind) among live entries near the real clock give the target of the same source without them,
    future rows not yet data and bad values NULL."""
    src, tgt = dbs.engine("source"), dbs.engine("target")
    (table,) = adtemp_tables(sa.MetaData())
    table.c.date_time.nullable = True  # a DCS table that takes rows without a time
    table.metadata.create_all(src)
    rng = random.Random(seed)
    now = utc_now()
    rows = live_rows(400, now - timedelta(seconds=5), seed=seed)
    cells = sorted({(rng.randrange(1, len(rows) + 1), rng.choice(PT)) for _ in range(12)})
    clean = [dict(r) for r in rows]
    for id_, column in cells:
        clean[id_ - 1][column] = None  # what a bad value is: NULL
    insert(src, table, clean)
    keys = {**REGIME, "timefloor": f"{now - timedelta(days=1):%Y-%m-%d %H:%M:%S}"}
    reference = scrape(dbs.settings(**keys))
    expected = target_rows(tgt, "DcsAdTemp")
    spoiled = spoil(src, "DBNS_SAB_Temp", cells, rng)
    extra = [{**rows[rng.randrange(len(rows))], "id": 1000 + k, "date_time": t}
             for k, t in enumerate(future_times(now, rng, rng.randint(1, 6)))]
    old = [{**rows[k], "id": 2000 + k, "date_time": datetime(1970, 1, 1, 0, 0, k)} for k in range(rng.randint(1, 3))]
    old += [{**rows[k], "id": 3000 + k, "date_time": None} for k in range(rng.randint(1, 3))]
    insert(src, table, extra + old)
    with caplog.at_level(logging.WARNING):
        summary = scrape(dbs.settings(**keys), drop=True)
    assert target_rows(tgt, "DcsAdTemp") == expected
    assert summary.entries_read == reference.entries_read
    assert summary.future == len(extra) and summary.before_floor == len(old)
    assert summary.wrong >= spoiled > 0 or dbs.backend == "mariadb"
    said = [r.getMessage() for r in caplog.records if r.name == "scraper.kinds"]
    assert len(said) == len(set(said)) and all("read as NULL" in m for m in said)


def test_inf_and_huge_numbers_from_sqlite_into_a_mariadb_target_are_written_as_null(tmp_path, mariadb_server, caplog):
    source = f"sqlite:///{tmp_path / 'dcs.db'}"
    mariadb_server.create_database("untrusted_target")
    try:
        dbs = Databases("sqlite", tmp_path, source, mariadb_server.url("untrusted_target"))
        src = dbs.engine("source")
        table = create_adtemp(src)
        rows = live_rows(100, utc_now() - timedelta(seconds=5))
        insert(src, table, rows)
        with src.begin() as conn:  # as a DCS writer spells them
            conn.exec_driver_sql("UPDATE DBNS_SAB_Temp SET Temp_PT1 = 9e999 WHERE id = 40")
            conn.exec_driver_sql("UPDATE DBNS_SAB_Temp SET Temp_PT2 = 1e300 WHERE id = 60")
        with caplog.at_level(logging.WARNING):
            summary = scrape(dbs.settings(**REGIME))
        assert summary.propagations > 0 and summary.caught_up
        assert summary.wrong >= 2
        got = {r[1]: r[-1][0] for r in target_rows(dbs.engine("target"), "DcsAdTemp")}
        huge = [payload for end, payload in got.items() if end == rows[59]["date_time"]]
        assert huge and huge[0][2] is None  # (ROW_COUNTER, PT1, PT2, ...): 1e300 cannot be a FLOAT
        assert any("out of range" in r.getMessage() for r in caplog.records)
        dbs.close()
    finally:
        mariadb_server.drop_database("untrusted_target")


def test_a_source_or_target_column_dropped_by_hand_is_one_line_and_exit_2_at_start_and_mid_run(sqlite_dbs):
    src, tgt = sqlite_dbs.engine("source"), sqlite_dbs.engine("target")
    table = create_adtemp(src)
    insert(src, table, live_rows(100, utc_now() - timedelta(minutes=5)))
    cfg = sqlite_dbs.write_cfg({"live": {**REGIME, "sleep": "0.1s", "heartbeat": "1s"}})
    assert scr(cfg, "-s", "live", "--catchup", "--ALLOW_DROP_CREATE_TABLE").returncode == 0
    # mid-run: a live scraper, and an operator drops a payload column of the target
    log = sqlite_dbs.tmp_path / "live.log"
    with running(spawn(cfg, "live", log=log)) as (proc,):
        wait_for(lambda: "timecursor" in log.read_text(), 60, "the scraper to start")
        with tgt.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE DcsAdTemp DROP COLUMN Temp_PT3")
        insert(src, table, live_rows(30, utc_now(), seed=9, first_id=101))  # changes to propagate
        assert proc.wait(timeout=120) == 2
    last = log.read_text().strip().splitlines()[-1]
    assert "[live] target:" in last and "Temp_PT3" in last and "Traceback" not in log.read_text(), last
    # at start: the source column the regime reads is gone
    with src.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE DBNS_SAB_Temp DROP COLUMN Temp_PT4")
    started = scr(cfg, "-s", "live", "--catchup")
    assert started.returncode == 2 and len(started.stderr.strip().splitlines()) == 1, started.stderr
    assert 'source: table "DBNS_SAB_Temp" has no column "Temp_PT4"' in started.stderr


def test_the_rules_sql_and_python_agree_on_values_of_the_wrong_kind(dbs):
    """The database skips stretches the change rule calls unchanged; with text, blobs, NaN and ±inf
    among them it must stop where Python, reading them as NULL, sees a change: the target equals the
    run that judges every entry in Python."""
    src, tgt = dbs.engine("source"), dbs.engine("target")
    table = create_adtemp(src)
    rows = live_rows(3000, utc_now() - timedelta(seconds=5), seed=4)
    for k, row in enumerate(rows):  # long unchanged stretches: the skip search is worth its query
        for j, c in enumerate(PT):
            row[c] = 20.0 + j + (k // 150)
        row["Temp_PT1"] = 0.2  # near what SQLite makes of text in arithmetic (0): |0 - 0.2| moved by nothing
    insert(src, table, rows)
    rng = random.Random(7)
    spoil(src, "DBNS_SAB_Temp", sorted({(rng.randrange(1, 3001), rng.choice(PT)) for _ in range(25)}), rng)
    spoil(src, "DBNS_SAB_Temp", sorted({(rng.randrange(1, 3001), "Temp_PT1") for _ in range(10)}), rng)
    keys = {**REGIME, "maxage": "2h"}
    in_python = scrape(dbs.settings(**keys, skip_in_database=False))
    expected = target_rows(tgt, "DcsAdTemp")
    in_sql = scrape(dbs.settings(**keys), drop=True)
    assert in_sql.skipped > 1000 and in_python.skipped == 0
    assert target_rows(tgt, "DcsAdTemp") == expected
    assert in_sql.propagations == in_python.propagations >= 19


def stale_record(engine, kls: str, until: str) -> tuple[int, datetime]:
    """What a version without the wall-clock bound left: after reading an entry dated `until`, a copy of
    the last record (payload included) from its TIMEEND up to `until`, written by hand with raw SQL as
    that version's one transaction would (LOCALSEQNO bumped). Returns (its SEQNO, its TIMESTART)."""
    q = (lambda n: f'"{n}"') if engine.dialect.name == "postgresql" else (lambda n: f"`{n}`") \
        if engine.dialect.name in ("mysql", "mariadb") else (lambda n: n)
    vld = [c["name"] for c in sa.inspect(engine).get_columns(f"{kls}Vld")]
    payload = [c["name"] for c in sa.inspect(engine).get_columns(kls)]
    with engine.begin() as conn:
        last, start = conn.exec_driver_sql(f"SELECT {q('SEQNO')}, {q('TIMEEND')} FROM {q(kls + 'Vld')} "
                                           f"ORDER BY {q('SEQNO')} DESC LIMIT 1").one()
        conn.exec_driver_sql(f"UPDATE {q('LOCALSEQNO')} SET {q('LASTUSEDSEQNO')} = {q('LASTUSEDSEQNO')} + 1 "
                             f"WHERE {q('TABLENAME')} = '{kls}'")
        seqno = last + 1
        moved = {"SEQNO": str(seqno), "TIMESTART": q("TIMEEND"), "TIMEEND": f"'{until}'"}
        conn.exec_driver_sql(f"INSERT INTO {q(kls + 'Vld')} ({', '.join(map(q, vld))}) SELECT "
                             f"{', '.join(moved.get(c, q(c)) for c in vld)} FROM {q(kls + 'Vld')} "
                             f"WHERE {q('SEQNO')} = {last}")
        conn.exec_driver_sql(f"INSERT INTO {q(kls)} ({', '.join(map(q, payload))}) SELECT "
                             f"{', '.join(str(seqno) if c == 'SEQNO' else q(c) for c in payload)} FROM {q(kls)} "
                             f"WHERE {q('SEQNO')} = {last}")
    return seqno, start if isinstance(start, datetime) else datetime.fromisoformat(str(start))


def test_a_validity_record_ahead_of_the_clock_left_by_an_older_version_is_repaired_losing_nothing(dbs, caplog):
    """An older version read a row dated 2099 and wrote a record up to it: every later entry was held
    back. Now the record is closed at its start (its row and payload kept), said once, and the target
    is that of the clean run plus that zero-length record."""
    src, tgt = dbs.engine("source"), dbs.engine("target")
    table = create_adtemp(src)
    rows = live_rows(400, utc_now() - timedelta(seconds=5), seed=5)
    insert(src, table, rows)
    scrape(dbs.settings(**REGIME))
    expected = target_rows(tgt, "DcsAdTemp")
    scrape(dbs.settings(**REGIME, maxiter=120), drop=True)  # stopped part-way: a live section
    seqno, start = stale_record(tgt, "DcsAdTemp", "2099-01-01 00:00:00")
    before = [r for r in target_rows(tgt, "DcsAdTemp") if r[1] == datetime(2099, 1, 1)]
    assert len(before) == 1
    with caplog.at_level(logging.WARNING, logger="scraper.engine"):
        summary = scrape(dbs.settings(**REGIME))
    said = [r.getMessage() for r in caplog.records if "ahead of the clock" in r.getMessage()]
    assert len(said) == 1 and f"SEQNO {seqno} [{start}, 2099-01-01 00:00:00] UTC" in said[0], said
    assert summary.propagations > 0 and summary.caught_up
    got = target_rows(tgt, "DcsAdTemp")
    repaired = [r for r in got if r[0] == r[1] == start]
    assert len(repaired) == 1 and repaired[0][2:] == before[0][2:]  # the record and its payload are kept
    assert [r for r in got if r not in repaired] == expected
    again = scrape(dbs.settings(**REGIME))  # repaired once: nothing more to say or write
    assert again.propagations == 0 and target_rows(tgt, "DcsAdTemp") == got
