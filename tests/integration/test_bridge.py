"""mode = bridge: every source entry becomes a row of a Grafana-ready SQLite table, `time` in UTC unix
seconds, resumed from the bridged file itself."""
from __future__ import annotations

import grp
import os
import sqlite3
import stat
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from bridge_support import BRIDGE, PT, add_rows, bridged, count, create_source, dcs_rows, query
from factories import PmtHvRowFactory, create_pmthv, insert, power_row
from scraper import commands
from scraper.core.timezones import Clock
from scraper.targets.timeseries import Batch, TimeSeriesFile




def run(dbs, **keys):
    cfg = dbs.settings(**{**BRIDGE, "target": f"sqlite:///{dbs.tmp_path / 'grafana' / 'live.db'}", **keys})
    return commands.run(cfg, catchup=True)


def live_db(dbs):
    return dbs.tmp_path / "grafana" / "live.db"


def test_every_entry_becomes_one_row_with_utc_unix_time(dbs):
    src = dbs.engine("source")
    create_source(src)
    rows = [{"date_time": datetime(2011, 2, 1, 8, 0, 0), **{c: 1.0 + k for k, c in enumerate(PT)}},
            {"date_time": datetime(2011, 2, 1, 8, 0, 10, 500000), **{c: 2.0 for c in PT}},
            {"date_time": datetime(2011, 2, 1, 8, 0, 10, 500000), **{c: 3.0 for c in PT}}]  # twin
    add_rows(src, rows)
    summary = run(dbs, source_tz="Asia/Shanghai")
    assert summary.entries == 3 and summary.caught_up
    got = bridged(live_db(dbs))
    # 08:00 in Shanghai (UTC+8) is midnight UTC: 2011-02-01 00:00:00 UTC = 1296518400
    assert got == [(1296518400, 1.0, 2.0, 3.0, 4.0, 5.0), (1296518410.5, 2.0, 2.0, 2.0, 2.0, 2.0),
                   (1296518410.5, 3.0, 3.0, 3.0, 3.0, 3.0)]
    types = query(live_db(dbs), "SELECT typeof(time) FROM DBNS_SAB_Temp ORDER BY rowid")
    assert [t for (t,) in types] == ["integer", "real", "real"]  # the two unix forms Grafana reads
    indexes = query(live_db(dbs), "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'DBNS_SAB_Temp'")
    assert any("(time)" in sql for (sql,) in indexes)


def test_source_tz_is_honoured_across_both_dst_changes(dbs):
    src = dbs.engine("source")
    create_source(src)
    local = [datetime(2011, 3, 27, 1, 59, 50), datetime(2011, 3, 27, 3, 0, 0),      # spring forward
             datetime(2011, 10, 30, 1, 59, 50), datetime(2011, 10, 30, 2, 30, 0),   # the repeated hour
             datetime(2011, 10, 30, 3, 0, 0)]
    add_rows(src, [{"date_time": t, **{c: 1.0 for c in PT}} for t in local])
    run(dbs, source_tz="Europe/Zurich")
    times = [r[0] for r in bridged(live_db(dbs))]
    utc = [datetime(2011, 3, 27, 0, 59, 50), datetime(2011, 3, 27, 1, 0, 0),
           datetime(2011, 10, 29, 23, 59, 50), datetime(2011, 10, 30, 0, 30, 0),  # first occurrence (CEST)
           datetime(2011, 10, 30, 2, 0, 0)]
    assert times == [int((u - datetime(1970, 1, 1)).total_seconds()) for u in utc]
    clock = Clock("Europe/Zurich")  # the scraper's own rule, entry by entry
    assert times == [int((clock.to_utc(t) - datetime(1970, 1, 1)).total_seconds()) for t in local]


def test_pmthv_channels_become_rows_and_each_detector_its_table(sqlite_dbs):
    src = sqlite_dbs.engine("source")
    tables = create_pmthv(src)
    hv = PmtHvRowFactory.build_batch(3)
    hv[1]["L2C3R4"] = 1234.5
    insert(src, tables[0], hv)
    insert(src, tables[1], [power_row(r) for r in hv])
    insert(src, tables[2], hv[:2])
    insert(src, tables[3], [power_row(r, on=0) for r in hv[:2]])
    summary = commands.run(sqlite_dbs.settings(**{**BRIDGE, "regime": "regimes.pmthv:PmtHv",
                                                  "target": f"sqlite:///{live_db(sqlite_dbs)}"}), catchup=True)
    assert summary.entries == 5 and summary.points == 5 * 192
    assert count(live_db(sqlite_dbs), "DBNS_AD1_HV") == 3 * 192
    assert query(live_db(sqlite_dbs), "SELECT voltage, pw FROM DBNS_AD1_HV WHERE ladder = 2 AND col = 3 AND ring = 4 "
                 "ORDER BY time") == [(1500.0, 1), (1234.5, 1), (1500.0, 1)]
    assert query(live_db(sqlite_dbs), "SELECT DISTINCT pw FROM DBNS_AD2_HV") == [(0,)]


def test_restart_between_twins_neither_loses_nor_repeats_one(dbs):
    src = dbs.engine("source")
    create_source(src)
    # dense twins: a quarter of the stops land between two entries sharing a time, at ~24 runs a backend
    # (400 entries with 30 % twins took ~58 runs for the same kind of stop)
    rows = dcs_rows(160, twins=0.6, seed=3)
    add_rows(src, rows)
    between_twins = 0
    for _ in range(200):  # one round of 7 entries per run
        summary = run(dbs, batch=7, maxiter=1)
        if summary.entries == 0:
            break
        done = count(live_db(dbs))
        between_twins += done < len(rows) and rows[done - 1]["date_time"] == rows[done]["date_time"]
    assert between_twins >= 3, "the stops this test is about: between entries sharing a time"
    got = bridged(live_db(dbs))
    assert len(got) == 160
    expected = [tuple(r[c] for c in PT) for r in rows]
    assert [g[1:] for g in got] == expected


def test_self_metrics_account_for_every_point(sqlite_dbs):
    src = sqlite_dbs.engine("source")
    create_source(src)
    add_rows(src, dcs_rows(250, seed=4))
    for _ in range(3):
        run(sqlite_dbs, batch=100, maxiter=1)
    path = live_db(sqlite_dbs)
    assert query(path, "SELECT sum(value), count(*) FROM bridge_points") == [(250.0, 3)]
    lags = query(path, "SELECT value FROM bridge_bridgeLag")
    assert len(lags) == 3 and all(0 <= v < 60 for (v,) in lags)
    # the source is from 2011: now - newest bridged point is years
    (total,) = query(path, "SELECT value FROM bridge_totalLag ORDER BY time DESC LIMIT 1")[0]
    newest = query(path, "SELECT max(time) FROM DBNS_SAB_Temp")[0][0]
    assert abs(total - (datetime.utcnow() - datetime(1970, 1, 1)).total_seconds() + newest) < 120


def test_file_is_wal_and_group_writable_with_the_configured_group(sqlite_dbs):
    src = sqlite_dbs.engine("source")
    create_source(src)
    add_rows(src, dcs_rows(10))
    group = grp.getgrgid(os.getgroups()[-1] if os.getgroups() else os.getgid()).gr_name
    other = next((g for g in grp.getgrall() if g.gr_name not in ("root", group)), None)
    chosen = other.gr_name if other is not None and os.geteuid() == 0 else group
    run(sqlite_dbs, group=chosen)
    path = live_db(sqlite_dbs)
    assert query(path, "PRAGMA journal_mode") == [("wal",)]
    for p in (path, path.parent):
        st = p.stat()
        assert st.st_mode & stat.S_IWGRP and st.st_mode & stat.S_IRGRP, oct(st.st_mode)
        assert grp.getgrgid(st.st_gid).gr_name == chosen
    assert path.parent.stat().st_mode & stat.S_ISGID  # -wal and -shm take the directory's group


@pytest.mark.parametrize("autocheckpoint, bounded", [(0, False), (16, True)])
def test_wal_autocheckpoint_bounds_the_wal_file(tmp_path, autocheckpoint, bounded):
    ts = TimeSeriesFile(tmp_path / "live.db", wal_autocheckpoint=autocheckpoint)
    ts.declare("t", {"v": __import__("sqlalchemy").Float()})
    ts.create()
    for k in range(40):  # ~40 rounds of ~10 pages each
        rows = [(k * 1000 + i, float(i)) for i in range(1000)]
        ts.write_round("s", [Batch("t", rows, (datetime(2011, 1, 1) + timedelta(seconds=k), k), 1000)], {})
    wal = (tmp_path / "live.db-wal").stat().st_size
    ts.close()
    assert (wal < 100 * 4096) == bounded, wal


def test_the_wal_grows_beside_a_reader_and_shrinks_back_once_it_lets_go(tmp_path):
    """A Grafana reader holding a read transaction keeps checkpoints from passing its snapshot, so the
    -wal file grows while it reads; once it lets go, the next round leaves the -wal file small again
    (SQLite's automatic checkpoints alone would leave it at its largest size for ever)."""
    path = tmp_path / "live.db"
    ts = TimeSeriesFile(path, wal_autocheckpoint=16)
    ts.declare("t", {"v": sa.Float()})
    ts.create()
    wal = tmp_path / "live.db-wal"
    rounds = iter(range(10_000))

    def one_round():
        k = next(rounds)
        rows = [(k * 1000 + i, float(i)) for i in range(1000)]
        ts.write_round("s", [Batch("t", rows, (datetime(2011, 1, 1) + timedelta(seconds=k), k), 1000)], {})

    one_round()
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    reader.execute("BEGIN")
    seen = reader.execute("SELECT count(*) FROM t").fetchone()[0]
    for _ in range(40):  # ~10 pages a round: far past what wal_autocheckpoint = 16 pages lets it reach
        one_round()
    held = wal.stat().st_size
    assert held > 10 * 16 * 4096, "the reader's snapshot held the checkpoints back"
    assert reader.execute("SELECT count(*) FROM t").fetchone()[0] == seen, "the reader's snapshot is unchanged"
    reader.execute("COMMIT")
    reader.close()
    one_round()
    after = wal.stat().st_size
    assert after <= 2 * 16 * 4096, (held, after)
    assert query(path, "SELECT count(*) FROM t") == [(42 * 1000,)]
    ts.close()


def test_a_live_reader_sees_every_round_whole(sqlite_dbs, tmp_path):
    """In any snapshot a reader takes, the rows present are exactly the points the metrics account for."""
    src = sqlite_dbs.engine("source")
    create_source(src)
    add_rows(src, dcs_rows(3000, seed=5))
    path = live_db(sqlite_dbs)
    import threading

    seen, errors, stop = [], [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
                seen.append(con.execute("SELECT (SELECT count(*) FROM DBNS_SAB_Temp), "
                                        "(SELECT coalesce(sum(value), 0) FROM bridge_points)").fetchone())
                con.close()
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    errors.append(exc)
    run(sqlite_dbs, batch=100, maxiter=1)  # the file and its tables exist before the reader starts
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        run(sqlite_dbs, batch=50)
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert len(seen) > 3
    assert all(rows == points for rows, points in seen), [s for s in seen if s[0] != s[1]][:3]


def test_status_reads_a_bridge_section_from_its_file(sqlite_dbs):
    from scraper.runtime.status import section_status

    src = sqlite_dbs.engine("source")
    create_source(src)
    add_rows(src, dcs_rows(20))
    path = sqlite_dbs.write_cfg({"test": {**BRIDGE, "target": f"sqlite:///{live_db(sqlite_dbs)}"}})
    assert section_status(str(path), "test").health == "NEVER RUN"  # no file yet
    commands.run(commands.settings(str(path), "test"), catchup=True)
    st = section_status(str(path), "test")
    assert (st.health, st.lag) == ("OK", timedelta(0))
    assert st.last_validity == dcs_rows(20)[-1]["date_time"]  # source_tz UTC


def test_an_entry_committed_late_behind_the_bookmark_is_bridged_once(dbs):
    """DCS readout sometimes commits an entry after newer ones (a higher id, an older date_time)."""
    src = dbs.engine("source")
    create_source(src)
    rows = dcs_rows(30, twins=0.0, seed=12)
    add_rows(src, rows[:20])
    first = run(dbs)
    assert first.entries == 20
    late = {"date_time": rows[5]["date_time"], **{c: 99.0 for c in PT}}  # behind the bookmark (entry 20)
    add_rows(src, [late])  # id 21, by AUTO_INCREMENT
    add_rows(src, [{k: v for k, v in r.items() if k != "id"} for r in rows[20:]])
    summary = run(dbs)
    assert (summary.entries, summary.late) == (11, 1)
    assert "late entries bridged 1" in summary.text()
    again = run(dbs)  # a restart: found nothing new, repeated nothing
    assert (again.entries, again.late) == (0, 0)
    got = bridged(live_db(dbs))
    assert len(got) == 31
    assert sorted(got) == sorted([(int((r["date_time"] - datetime(1970, 1, 1)).total_seconds()),
                                   *(r[c] for c in PT)) for r in rows + [late]])


@pytest.mark.backends("postgresql", reason="timestamptz is PostgreSQL's")
def test_a_timestamptz_source_is_bridged_as_utc_whatever_the_session_time_zone(dbs):
    from dcs_writers import dcs_rows as pg_rows, pg_source

    rows = pg_rows(50, seed=2, nulls=False)
    engine = dbs.engine("source")
    with engine.connect() as conn:  # made with psql's own client library, times given as UTC
        pg_source(conn.connection.dbapi_connection, rows, column="timestamptz")
        conn.commit()
        conn.exec_driver_sql(f"ALTER DATABASE {sa.make_url(dbs.source_url).database} SET TimeZone = 'Asia/Shanghai'")
        conn.commit()
    engine.dispose()
    first = run(dbs, source_tz="UTC", batch=20, maxiter=1)  # a round, then a resume from the bookmark
    rest = run(dbs, source_tz="UTC", batch=20)
    assert first.entries + rest.entries == 50
    epoch = datetime(1970, 1, 1)
    times = sorted((r["date_time"] - epoch).total_seconds() for r in rows)
    got = sorted(float(r[0]) for r in bridged(live_db(dbs)))
    assert got == times

