"""mode = faker against real databases: schemas, restarts, realism options, mysqldump DDL."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from fakers.ddl import statements
from fakers.runner import run_faker
from scraper import commands
from scraper.cli import main
from support import scrape, target_rows

ROOT = Path(__file__).resolve().parents[2]
DUMP = ROOT / "fakers" / "sql" / "fake_dcs.sql"
T0 = datetime(2011, 2, 1)
ADTEMP = {"regime": "regimes.adtemp:AdTemp", "mode": "faker", "faker_timestart": "2011-02-01 00:00:00",
          "interval": "10s", "sleep": 0}


def rows_of(engine: sa.Engine, table: str) -> list[dict]:
    t = sa.Table(table, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(t).order_by(t.c.id)).mappings()]


def test_faker_writes_maxiter_entries_one_interval_apart_and_restarts_where_it_stopped(dbs):
    cfg = dbs.settings(**ADTEMP, faker_dropsrc=True, maxiter=30, profile="modulo_ramp")
    summary = run_faker(cfg)
    assert summary.text() == ("[test] fake entries written 30 per table, covering 2011-02-01 00:00:00 .. "
                              "2011-02-01 00:04:50 (source-local)")
    run_faker(dbs.settings(**ADTEMP, maxiter=20, profile="modulo_ramp"))  # no dropsrc: continues
    rows = rows_of(dbs.engine("source"), "DBNS_SAB_Temp")
    assert [r["id"] for r in rows] == list(range(1, 51))
    assert [r["date_time"] for r in rows] == [T0 + k * timedelta(seconds=10) for k in range(50)]
    assert all(r["Temp_PT1"] == r["Temp_PT5"] == r["id"] % 10 for r in rows)
    run_faker(cfg)  # dropsrc: starts over
    assert len(rows_of(dbs.engine("source"), "DBNS_SAB_Temp")) == 30


def test_same_seed_same_source_even_across_a_faker_restart(sqlite_dbs, tmp_path):
    keys = {**ADTEMP, "profile": "random_walk", "profile_seed": 4, "faker_duplicates": 0.05, "faker_gaps": 0.02}
    run_faker(sqlite_dbs.settings(**keys, faker_dropsrc=True, maxiter=200))
    once = rows_of(sqlite_dbs.engine("source"), "DBNS_SAB_Temp")
    run_faker(sqlite_dbs.settings(**keys, faker_dropsrc=True, maxiter=200))
    assert rows_of(sqlite_dbs.engine("source"), "DBNS_SAB_Temp") == once
    values = [r["Temp_PT1"] for r in once]
    assert len(set(values)) > 150  # it does wander


def test_late_rows_get_higher_ids_than_newer_rows_already_present(dbs):
    summary = run_faker(dbs.settings(**ADTEMP, faker_dropsrc=True, maxiter=500, faker_late=0.05, faker_late_by=3))
    rows = rows_of(dbs.engine("source"), "DBNS_SAB_Temp")
    newest_so_far, late = datetime.min, 0
    for r in rows:  # in id (= commit) order
        late += r["date_time"] < newest_so_far
        newest_so_far = max(newest_so_far, r["date_time"])
    assert late == summary.events["late"] > 10
    assert f"late {late}" in summary.text()
    times = sorted(r["date_time"] for r in rows)
    assert times == [T0 + k * timedelta(seconds=10) for k in range(500)]  # no slot lost or doubled


def test_bad_quality_marks_the_quality_column_where_the_table_has_one(dbs):
    summary = run_faker(dbs.settings(regime="regimes.adlid:AdLid", mode="faker", sleep=0, faker_dropsrc=True,
                                     interval="5s", maxiter=1000, faker_badquality=0.1, profile="sine"))
    quality = [r["Quality"] for r in rows_of(dbs.engine("source"), "AD1_LidSensor")]
    assert set(quality) == {0, 1}
    assert quality.count(0) == summary.events["Quality=0"]
    assert 60 < quality.count(0) < 140
    # adtemp has no Quality column: the option is a no-op there, not an error
    run_faker(dbs.settings(**ADTEMP, faker_dropsrc=True, maxiter=10, faker_badquality=0.5))
    assert "Quality" not in rows_of(dbs.engine("source"), "DBNS_SAB_Temp")[0]


def test_a_faked_gap_is_a_gap_in_the_validity_records_too(sqlite_dbs):
    run_faker(sqlite_dbs.settings(**ADTEMP, faker_dropsrc=True, maxiter=400, profile="constant",
                                  faker_gaps=0.01, faker_gap="1h", profile_seed=2))
    rows = rows_of(sqlite_dbs.engine("source"), "DBNS_SAB_Temp")
    holes = [(a["date_time"], b["date_time"]) for a, b in zip(rows, rows[1:])
             if b["date_time"] - a["date_time"] > timedelta(seconds=10)]
    assert holes and all(b - a == timedelta(hours=1, seconds=10) for a, b in holes)
    scrape(sqlite_dbs.settings(regime="regimes.adtemp:AdTemp", interval="10s", maxage="10m",
                               timefloor="2011-02-01 00:00:00"))
    spans = [(r[0], r[1]) for r in target_rows(sqlite_dbs.engine("target"), "DcsAdTemp")]
    # the first entry after a silent hour is overage: one record spans the hole, contiguity is kept
    for a, b in holes:
        assert any(start <= a and end == b for start, end in spans)


@pytest.mark.parametrize("key,value,message", [
    ("profile", "zigzag", '--profile: unknown profile "zigzag"'),  # typed after scr.py: blamed there
    ("faker_late", "2", "--faker_late: 2.0 is not a probability"),
    ("faker_ddl", "fake_dcs.sql", "--faker_ddl: a mysqldump file needs a MariaDB/MySQL source, not SQLite"),
])
def test_faker_mistakes_are_one_line_naming_the_key(sqlite_dbs, capsys, key, value, message):
    path = sqlite_dbs.write_cfg({"f": {**ADTEMP, "maxiter": 5}})
    assert main(["--cfg", str(path), "-s", "f", f"--{key}", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"[f] {message}" in err[0], err


# --- faker_ddl: fake source tables from a no-data mysqldump (MariaDB only) -------------------------------

@pytest.mark.parametrize("dbs", ["mariadb"], indirect=True)
def test_faker_ddl_creates_the_tables_a_mysqldump_declares(dbs):
    src = dbs.engine("source")
    with src.begin() as conn:  # an old fake table with the wrong shape: faker_dropsrc replaces it
        conn.exec_driver_sql("CREATE TABLE DBNS_SAB_Temp (id int primary key, date_time datetime, junk int)")
    keys = {**ADTEMP, "faker_ddl": str(DUMP), "profile": "step", "step_every": "5m"}
    run_faker(dbs.settings(**keys, faker_dropsrc=True, maxiter=300))
    insp = sa.inspect(src)
    cols = {c["name"]: c for c in insp.get_columns("DBNS_SAB_Temp")}
    assert list(cols) == ["id", "date_time", "Temp_PT1", "Temp_PT2", "Temp_PT3", "Temp_PT4", "Temp_PT5"]
    assert str(cols["Temp_PT1"]["type"]).startswith("DECIMAL(6, 2)")
    assert cols["Temp_PT1"]["comment"] == "deg C; PT100 sensor 1"
    assert insp.get_table_names() == ["DBNS_SAB_Temp"]  # only the regime's tables, not the whole dump
    with src.connect() as conn:
        assert conn.exec_driver_sql("SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                                    "DATABASE() AND TABLE_NAME = 'DBNS_SAB_Temp'").scalar() == "InnoDB"
    # without faker_dropsrc the existing table is kept and the faker continues after its newest entry
    run_faker(dbs.settings(**keys, maxiter=60))
    rows = rows_of(src, "DBNS_SAB_Temp")
    assert [r["id"] for r in rows] == list(range(1, 361))
    # and the scraper reads the DECIMAL columns like any others
    summary = scrape(dbs.settings(regime="regimes.adtemp:AdTemp", interval="10s", maxage="10m",
                                    threshold=0.5, timefloor="2011-02-01 00:00:00"))
    assert summary.entries_read == 360 and summary.propagations == 11  # one per 5-minute step in the hour


@pytest.mark.parametrize("dbs", ["mariadb"], indirect=True)
def test_faker_ddl_serves_a_regime_with_a_quality_column(dbs):
    run_faker(dbs.settings(regime="regimes.adlid:AdLid", mode="faker", sleep=0, interval="5s", maxiter=200,
                             faker_ddl=str(DUMP), faker_dropsrc=True, faker_badquality=0.2))
    quality = [r["Quality"] for r in rows_of(dbs.engine("source"), "AD1_LidSensor")]
    assert len(quality) == 200 and 0 in quality and 1 in quality


@pytest.mark.parametrize("dbs", ["mariadb"], indirect=True)
def test_faker_ddl_without_the_regimes_table_names_the_file_and_table(dbs, tmp_path):
    dump = tmp_path / "other.sql"
    dump.write_text("\n".join(s + ";" for s in statements(DUMP.read_text()) if "AD1_LidSensor" in s))
    path = dbs.write_cfg({"f": {**ADTEMP, "faker_ddl": str(dump), "faker_dropsrc": True, "maxiter": 5}})
    with pytest.raises(Exception, match=rf"\[f\] faker_ddl: {dump} has no CREATE TABLE for DBNS_SAB_Temp"):
        run_faker(commands.settings(str(path), "f"))


def test_factories_build_rows_the_fake_source_schema_of_each_example_regime_accepts(sqlite_dbs):
    """Unit-style tests build source rows with the factories; they must fit the fakers' schemas."""
    import factories as f

    src = sqlite_dbs.engine("source")
    temp = f.AdTempRowFactory.build_batch(20) + f.AdTempRowFactory.build_batch(5, Temp_PT3=30.0)
    f.insert(src, f.create_adtemp(src), temp)
    hv_tables = f.create_pmthv(src, detectors=("AD1",))
    hv = f.PmtHvRowFactory.build_batch(25)
    f.insert(src, hv_tables[0], hv)
    f.insert(src, hv_tables[1], f.PmtHvPwRowFactory.build_batch(25))
    lid = [f.AdLidRowFactory(bad=i % 4 == 0) for i in range(1, 40)]
    lid += [f.AdLidRowFactory(Temp_LS=41.0)]  # the watched Temp_LS moves by 1 degree
    f.insert(src, f.create_adlid(src), lid)
    tgt = sqlite_dbs.engine("target")

    scrape(sqlite_dbs.settings(regime="regimes.adtemp:AdTemp", interval="10s", maxage="1h", threshold=0.5))
    assert [r[:2] for r in target_rows(tgt, "DcsAdTemp")] == [(temp[0]["date_time"], temp[20]["date_time"])]
    scrape(sqlite_dbs.settings(regime="regimes.adlid:AdLid", interval="5s", maxage="1h", threshold=0.5,
                               aggregate="avg,min,max,std", aggregate_skips="id,date_time,Quality",
                               aggregate_filter="Quality != 0"))
    ((start, end, *_, payload),) = target_rows(tgt, "DcsAdLidSensor")
    assert (start, end) == (lid[0]["date_time"], lid[-1]["date_time"])
    good_before_end = sum(r["Quality"] for r in lid[:-1])
    assert dict(zip([c.name for c in sa.Table("DcsAdLidSensor", sa.MetaData(), autoload_with=tgt).c][1:],
                    payload[0]))["nsamples"] == good_before_end == 30
    # pmthv reads both detectors; AD2's tables are empty, AD1's 25 entries span 4 min > maxage 3m
    f.create_pmthv(src, detectors=("AD2",))
    summary = scrape(sqlite_dbs.settings(regime="regimes.pmthv:PmtHv", interval="10s", maxage="3m"))
    assert summary.entries_read == 25 and summary.propagations == 1
    ((*_, payload),) = target_rows(tgt, "DcsPmtHv")
    assert len(payload) == 192 and {p[-2:] for p in payload} == {(1500.0, 1)}
