"""MariaDB and PostgreSQL sources as real DCS databases hold them, written with the servers' own client
libraries: zero dates and 1970 rows, NULL readings, shared timestamps, ids out of time order, `timestamp`
and `timestamptz`. Each scrapes exactly like the same entries written canonically (by SQLAlchemy into
SQLite): batched, live and restarted at random points."""
from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from dcs_writers import dcs_rows, mysql_source, pg_source
from regimes.adlid import LID
from factories import create_adtemp, insert, lid_rows
from scraper import commands
from scraper.errors import ConfigError
from scraper.runtime.status import section_status
from support import Databases, scrape, target_rows

REGIME = {"regime": "regimes.adtemp:AdTemp", "interval": "10s", "maxage": "2m", "threshold": 0.5,
          "timefloor": "2011-02-01 00:00:00"}
_names = itertools.count()


def _server_dbs(server, tmp_path, request) -> tuple[Databases, str]:
    """A target database on the server, a source database name, and a Databases bound to them."""
    n = next(_names)
    src, tgt = f"dcs_src_{n}", f"dcs_tgt_{n}"
    for name in (src, tgt):
        server.create_database(name)
    request.addfinalizer(lambda: [server.drop_database(name) for name in (src, tgt)])
    return Databases("server", tmp_path, server.url(src), server.url(tgt)), src


def _canonical(dbs: Databases, rows: list[dict]) -> str:
    url = f"sqlite:///{dbs.tmp_path / 'canon.db'}"
    eng = sa.create_engine(url)
    insert(eng, create_adtemp(eng), rows)
    eng.dispose()
    return url


def _properties(dbs: Databases, rows: list[dict], seed: int, **keys) -> None:
    """The raw source gives the canonical source's target: batched, sample by sample, restarted."""
    canon = _canonical(dbs, rows)
    target = dbs.engine("target")

    def run(kls, overrides=None, **more):
        return scrape(dbs.settings(overrides=overrides, **{**REGIME, **keys, "kls": kls, **more}))

    run("Ref", source=canon)
    expected = target_rows(target, "Ref")
    assert len(expected) > 20
    run("Batched")
    assert target_rows(target, "Batched") == expected
    run("Live", batch=1, skip_in_database=False)
    assert target_rows(target, "Live") == expected
    rng = random.Random(seed)
    for _ in range(100):
        if run("Restarted", overrides={"maxiter": rng.randint(5, 60)}, batch=rng.choice([1, 7, 500])).caught_up:
            break
    assert target_rows(target, "Restarted") == expected


# --- MariaDB ----------------------------------------------------------------------------------------
def _junk(first_id: int) -> list[dict]:
    """What the original lid-sensor table held among its 13.5 M rows: zero dates and 1970 rows."""
    rows = []
    for k in range(6):
        dt = "0000-00-00 00:00:00" if k % 2 else datetime(1970, 1, 1, 8, 0, 0)
        rows.append({"id": first_id + k, "date_time": dt, **{f"Temp_PT{i}": None for i in range(1, 6)}})
    return rows


@pytest.mark.parametrize("column", ["DATETIME", "DATETIME(6)", "TIMESTAMP"])
def test_a_mariadb_table_as_the_dcs_wrote_it_scrapes_like_the_canonical_one(mariadb_server, tmp_path, request, column):
    dbs, src = _server_dbs(mariadb_server, tmp_path, request)
    rows = dcs_rows(250, seed=4, whole_seconds=column != "DATETIME(6)")
    junk = _junk(len(rows) + 1)
    conn = mariadb_server.connect(src)
    try:
        mysql_source(conn, [*rows[:100], *junk, *rows[100:]], column=column)
    finally:
        conn.close()
    _properties(dbs, rows, seed=len(column))
    summary = scrape(dbs.settings(**{**REGIME, "kls": "Counted"}))
    assert summary.before_floor == len(junk)
    assert f"entries before timefloor ignored {len(junk)}" in summary.text()
    path = dbs.write_cfg({"s": {**REGIME, "kls": "Counted"}}, name="status.cfg")
    status = section_status(str(path), "s")
    assert status.health != "ERROR", status.note


def test_the_averager_crosses_41_empty_years_in_a_few_queries(mariadb_server, tmp_path, request):
    """A 1970 row before 2011 data: one record for its bin, then straight on to 2011, not a query per
    empty chunk (30,016 of them with `territory = 1d`)."""
    dbs, src = _server_dbs(mariadb_server, tmp_path, request)
    data = lid_rows(900, start=datetime(2011, 2, 1), first_id=10)  # 5 s apart: 1 h 15 m
    early = [{**data[0], "id": k, "date_time": dt} for k, dt in
             ((1, "0000-00-00 00:00:00"), (2, datetime(1970, 1, 1, 8)), (3, datetime(1970, 1, 1, 8)))]
    cols = ", ".join(f"`{c}` DOUBLE" for c in LID)
    conn = mariadb_server.connect(src)
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = ''")
            cur.execute(f"CREATE TABLE AD1_LidSensor (id INT PRIMARY KEY AUTO_INCREMENT, date_time DATETIME NOT NULL, "
                        f"{cols}, Quality INT, KEY (date_time))")
            names = ["id", "date_time", *LID, "Quality"]
            cur.executemany(f"INSERT INTO AD1_LidSensor ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})",
                            [tuple(r[c] for c in names) for r in [*early, *data]])
    finally:
        conn.close()
    cfg = dbs.settings(**{"regime": "regimes.adlid:AdLid", "mode": "averager", "timefloor": "1969-12-31 00:00:00",
                          "aggregate": "avg,min,max,std", "aggregate_skips": "id,date_time,Quality",
                          "bin": "1h", "territory": "1d"})
    summary = commands.run(cfg, allow_create=True)
    starts = [r[0] for r in target_rows(dbs.engine("target"), "DcsAdLidSensor")]
    assert starts == [datetime(1970, 1, 1, 8), datetime(2011, 2, 1)]  # the 2011 01:00 bin is still open
    assert summary.before_floor == 1  # the zero date
    assert summary.queries < 20, summary.queries


# --- PostgreSQL -------------------------------------------------------------------------------------
@pytest.mark.parametrize("column", ["timestamp", "timestamptz"])
def test_postgresql_timestamp_and_timestamptz_scrape_like_the_canonical_source(postgresql_server, tmp_path,
                                                                              request, column):
    dbs, src = _server_dbs(postgresql_server, tmp_path, request)
    rows = dcs_rows(250, seed=9)
    with postgresql_server.connect(src) as conn:
        # a session in another zone: timestamptz must still be read as the instants written (UTC)
        conn.execute("SET TimeZone = 'Asia/Shanghai'")
        pg_source(conn, rows, column=column)
    _properties(dbs, rows, seed=len(column))


def test_timestamptz_needs_source_tz_utc(postgresql_server, tmp_path, request):
    dbs, src = _server_dbs(postgresql_server, tmp_path, request)
    with postgresql_server.connect(src) as conn:
        pg_source(conn, dcs_rows(10, seed=1), column="timestamptz")
    with pytest.raises(ConfigError) as err:
        scrape(dbs.settings(**{**REGIME, "source_tz": "Asia/Shanghai"}))
    assert err.value.key == "source_tz" and "timestamptz" in err.value.message


def test_a_postgresql_password_in_scraper_cfg_is_refused(postgresql_server, tmp_path, request):
    dbs, _src = _server_dbs(postgresql_server, tmp_path, request)
    with pytest.raises(ConfigError) as err:
        scrape(dbs.settings(**{**REGIME, "source": "postgresql+psycopg://scraper:secret@dbhost/dcs"}))
    assert err.value.key == "source" and "~/.pgpass" in err.value.message and "secret" not in err.value.message
