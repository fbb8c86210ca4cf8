"""Generic aggregation on SQLite and MariaDB, checked against Python's `statistics`
over the same source rows read back from the database."""
from __future__ import annotations

import math
import statistics
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from regimes.adlid import LID
from factories import create_lid, insert, lid_rows
from scraper.modes.scrape import Scrape
from scraper.errors import ConfigError
from support import scrape, target_rows

START = datetime(2011, 2, 1)
ADLID = {"regime": "regimes.adlid:AdLid", "interval": "5s", "maxage": "2m", "threshold": 0.5,
         "timefloor": "2011-02-01 00:00:00", "aggregate": "avg,min,max,std",
         "aggregate_skips": "id,date_time,Quality", "aggregate_filter": "Quality != 0"}
FNS = {"avg": statistics.fmean, "min": min, "max": max, "std": statistics.pstdev}


def source_rows(engine: sa.Engine, table: sa.Table) -> list[dict]:
    """The rows as the database holds them (MariaDB FLOAT is single precision)."""
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table).order_by(table.c.id)).mappings()]


def close(a, b) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def test_payload_aggregates_equal_python_statistics_over_each_validity_window(dbs):
    src = dbs.engine("source")
    table = create_lid(src, lid_rows(300))
    rows = lid_rows(300)
    for r in rows[100:]:  # a step in Temp_LS makes `changed` propagations, not only overage ones
        r["Temp_LS"] += 1.0
    with src.begin() as conn:
        conn.execute(table.delete())
        conn.execute(table.insert(), rows)
    scrape(dbs.settings(**ADLID))
    got = target_rows(dbs.engine("target"), "DcsAdLidSensor")
    assert len(got) >= 5
    data = source_rows(src, table)
    cols = [c.name for c in sa.Table("DcsAdLidSensor", sa.MetaData(), autoload_with=dbs.engine("target")).c
            if c.name != "SEQNO"]
    for start, end, *_rest, payload in got:
        ((values),) = payload
        row = dict(zip(cols, values))
        window = [r for r in data if start <= r["date_time"] < end and r["Quality"] != 0]
        assert row["nsamples"] == len(window) > 0
        for c in LID:
            xs = [r[c] for r in window]
            for fn, f in FNS.items():
                assert close(row[f"{c}_{fn}"], f(xs)), (c, fn, start, end)


def _engine(cfg) -> Scrape:
    return Scrape.start(cfg, allow_create=True, catchup=True)


def test_aggd_keys_are_column_fn_plus_count_and_the_window_excludes_the_last_entry(dbs):
    src = dbs.engine("source")
    table = create_lid(src, lid_rows(40, bad_every=1000))
    eng = _engine(dbs.settings(**ADLID, aggregate_count="n"))
    try:
        agg = eng.aggregators[0]
        aggd = agg.compute(START, START + timedelta(seconds=50))  # entries 00:00:00 .. 00:00:45
        assert set(aggd) == {"n"} | {f"{c}_{fn}" for c in LID for fn in FNS}
        assert aggd["n"] == 10
        xs = [r["Temp_GdLS"] for r in source_rows(src, table)[:10]]
        assert close(aggd["Temp_GdLS_std"], statistics.pstdev(xs))
        assert close(aggd["Temp_GdLS_max"], max(xs)) and close(aggd["Temp_GdLS_min"], min(xs))
    finally:
        eng.close()


def test_filter_and_skips_are_applied(dbs):
    src = dbs.engine("source")
    table = create_lid(src, lid_rows(60, bad_every=3))
    eng = _engine(dbs.settings(**{**ADLID, "aggregate": "avg,min,max,std", "aggregate_skips": "id,date_time,Tilt1_X"}))
    try:
        aggd = eng.aggregators[0].compute(START, START + timedelta(minutes=5))
    finally:
        eng.close()
    good = [r for r in source_rows(src, table) if r["Quality"] != 0]
    assert aggd["count"] == len(good) == 40
    assert "Tilt1_X_avg" not in aggd and "id_avg" not in aggd and "date_time_max" not in aggd
    assert aggd["Quality_avg"] == 1.0 and aggd["Quality_max"] == 1  # not skipped here, and filtered
    assert close(aggd["Temp_LS_avg"], statistics.fmean(r["Temp_LS"] for r in good))


def test_aggregate_query_runs_only_when_the_regime_touches_aggd(dbs):
    src = dbs.engine("source")
    create_lid(src, lid_rows(200))
    # adlid reads aggd at every PROCEED: exactly one aggregate query per propagation
    eng = _engine(dbs.settings(**ADLID))
    try:
        summary = eng.run()
        assert summary.propagations > 3 and eng.aggregators[0].queries == summary.propagations
    finally:
        eng.close()
    # a regime that never looks at aggd pays nothing for `aggregate` being configured
    from factories import AdTempRowFactory, create_adtemp

    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(100))
    eng = _engine(dbs.settings(regime="regimes.adtemp:AdTemp", interval="10s", maxage="1m",
                               timefloor="2011-02-01 00:00:00", aggregate="avg,std"))
    try:
        summary = eng.run()
        assert summary.propagations > 3 and eng.aggregators[0].queries == 0
    finally:
        eng.close()


def test_zero_matching_entries_give_count_zero_and_none_or_aggregate_none(dbs):
    src = dbs.engine("source")
    create_lid(src, lid_rows(30, bad_every=1))  # every entry has Quality = 0
    for none, expected in ((None, None), (-1, -1.0)):
        extra = {} if none is None else {"aggregate_none": none}
        eng = _engine(dbs.settings(**ADLID, **extra))
        try:
            aggd = eng.aggregators[0].compute(START, START + timedelta(minutes=1))
        finally:
            eng.close()
        assert aggd["count"] == 0
        assert {v for k, v in aggd.items() if k != "count"} == {expected}


def test_none_into_a_not_null_target_column_names_aggregate_none_and_writes_nothing(dbs):
    src, tgt = dbs.engine("source"), dbs.engine("target")
    create_lid(src, lid_rows(60, bad_every=1))
    from regimes.adlid import AdLid
    from scraper.targets.dbi import DbiTables

    tables = DbiTables("DcsAdLidSensor", AdLid.target.columns)
    for col in tables.payload.c:  # a DBI table made by other tooling: every payload column NOT NULL
        col.nullable = False
    tables.metadata.create_all(tgt)
    with tgt.begin() as conn:
        conn.execute(tables.localseqno.insert(), [{"TABLENAME": "*", "LASTUSEDSEQNO": 0}])
    with pytest.raises(ConfigError) as err:
        scrape(dbs.settings(**ADLID))
    assert err.value.key == "aggregate_none" and "NOT NULL" in str(err.value)
    with tgt.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.vld)).scalar() == 0
    scrape(dbs.settings(**ADLID, aggregate_none=0))  # the documented fix
    (first, *_rest) = target_rows(tgt, "DcsAdLidSensor")
    assert set(first[-1][0][1:-1]) == {0.0} and first[-1][0][-1] == 0


@pytest.mark.parametrize("key,value,needle", [
    ("aggregate", "avg,median", '"median" is not an aggregate function'),
    ("aggregate_filter", "Quality !!= 0", "the aggregate query fails on the source"),
    ("aggregate_filter", "NoSuchColumn > 1", "the aggregate query fails on the source"),
])
def test_bad_aggregate_settings_stop_at_start_with_the_key_named(dbs, key, value, needle):
    create_lid(dbs.engine("source"), lid_rows(10))
    with pytest.raises(ConfigError) as err:
        scrape(dbs.settings(**{**ADLID, key: value}))
    assert err.value.key == key and needle in err.value.message


def test_a_function_the_source_backend_lacks_is_refused_naming_the_key(sqlite_dbs):
    from scraper.sources.sql.aggregation import FUNCTIONS
    from scraper.config.checks import AGGREGATE_FUNCTIONS

    assert set(AGGREGATE_FUNCTIONS) == set().union(*FUNCTIONS.values())  # the config check is the union
    create_lid(sqlite_dbs.engine("source"), lid_rows(10))
    with pytest.raises(ConfigError) as err:
        scrape(sqlite_dbs.settings(**{**ADLID, "aggregate": "avg,min,max,std,bit_and"}))
    assert err.value.key == "aggregate" and '"bit_and" is not an aggregate function' in err.value.message
    assert "on sqlite" in err.value.message


def test_sv0_aggd_is_none_after_start_then_the_previous_ranges_aggd(dbs):
    create_lid(dbs.engine("source"), lid_rows(120))
    seen = []

    def run(**keys):
        eng = _engine(dbs.settings(**ADLID, **keys))
        original = eng.scraper.propagate

        def capture(sv):
            seen.append((sv[0].aggd, sv[-1].aggd))
            return original(sv)

        eng.scraper.propagate = capture
        try:
            return eng.run()
        finally:
            eng.close()

    run(maxiter=60)
    first_run = len(seen)
    run()  # a restart resumes from the target: sv[0] is re-read, without aggd
    assert first_run >= 2 and len(seen) > first_run + 1
    for k, (before, latest) in enumerate(seen):
        assert latest["count"] > 0
        if k in (0, first_run):
            assert before is None
        else:
            assert before is seen[k - 1][1]


def test_joined_sources_aggregate_the_joined_columns_too(dbs):
    from factories import PmtHvRowFactory, create_pmthv, power_row

    src = dbs.engine("source")
    hv1, pw1, hv2, pw2 = create_pmthv(src)
    rows = [PmtHvRowFactory(channels=1500.0 + (i % 4)) for i in range(12)]
    insert(src, hv1, rows)
    insert(src, pw1, [power_row(r, on=i % 2) for i, r in enumerate(rows)])
    eng = _engine(dbs.settings(regime="regimes.pmthv:PmtHv", timefloor="2011-02-01 00:00:00",
                               aggregate="avg,max", aggregate_skips="id,date_time"))
    try:
        start = rows[0]["date_time"]
        aggd = eng.aggregators[0].compute(start, rows[8]["date_time"])  # entries 0..7
    finally:
        eng.close()
    assert aggd["count"] == 8
    assert close(aggd["L1C1R1_avg"], statistics.fmean(1500.0 + (i % 4) for i in range(8)))
    assert aggd["L8C3R8_Pw_max"] == 1 and close(aggd["L8C3R8_Pw_avg"], 0.5)
