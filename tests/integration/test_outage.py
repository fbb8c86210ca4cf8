"""Outages and permission errors on a real MariaDB.

An outage (server stopped mid-run, then restarted) is retried with backoff, logged once down and once
back up, counted in the `errors` metric, and leaves a target identical to an uninterrupted run. A
permission error is an operator mistake: exit 2 with one line, not a retry loop.
"""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from factories import AdTempRowFactory, create_adtemp, insert
from processes import newest, running, spawn, terminate, wait_for
from scraper import cli
from scraper.runtime import metrics
from support import Databases, scrape, target_rows

REGIME = {"regime": "regimes.adtemp:AdTemp", "interval": "10s", "maxage": "2m", "threshold": 0.5,
          "heartbeat": "0.2s", "backoff_cap": "0.5s", "metrics_every": "0.5s", "batch": 20}


def rows_changing_every(n: int, k: int) -> list[dict]:
    rows = AdTempRowFactory.build_batch(n)
    for i, r in enumerate(rows):
        r["Temp_PT1"] = float(i // k)
    return rows


def test_server_restart_mid_run_is_retried_and_loses_nothing(own_server):
    server, dbs = own_server
    src, tgt = dbs.engine("source"), dbs.engine("target")
    rows = rows_changing_every(3000, 3)
    insert(src, create_adtemp(src), rows[:2000])
    cfg = dbs.write_cfg({"scraper": REGIME})
    log = cfg.parent / "scraper.log"
    proc = spawn(cfg, "scraper", "--ALLOW_DROP_CREATE_TABLE", log=log)
    with running(proc):
        wait_for(lambda: newest(tgt, "DcsAdTempVld", "TIMEEND") is not None, 30, "the first propagations")
        server.stop()  # mid catch-up: one propagation per 3 entries, in batches of 20
        src.dispose(), tgt.dispose()
        # up again only once the scraper has seen it down (whenever a busy machine gets there)
        wait_for(lambda: "DB down:" in log.read_text(), 60, "the outage to be noticed")
        server.start()
        insert(src, src_table(src), rows[2000:])  # the source kept writing while we were down
        wait_for(lambda: newest(tgt, "DcsAdTempVld", "TIMEEND") == rows[-1]["date_time"] - pytest_approx_end(),
                 60, "the scraper to catch up after the outage")
        status, _, _ = terminate(proc)
    text = log.read_text()
    assert status == 0, text[-3000:]
    downs = [line for line in text.splitlines() if "DB down:" in line]
    ups = [line for line in text.splitlines() if "DB back up after" in line]
    assert 1 <= len(downs) <= 2 and len(ups) == len(downs), "one line per state change, not per retry"
    assert "Traceback" not in text
    m = metrics.metrics_table().c
    with tgt.connect() as conn:
        errors = conn.execute(sa.select(sa.func.sum(m.value)).where(m.name == "errors")).scalar()
    assert errors >= 1
    scrape(dbs.settings(**REGIME, kls="Reference"))
    assert target_rows(tgt, "DcsAdTemp") == target_rows(tgt, "Reference")


def src_table(engine: sa.Engine) -> sa.Table:
    return sa.Table("DBNS_SAB_Temp", sa.MetaData(), autoload_with=engine)


def pytest_approx_end():
    """The last change is at entry 2997 (every 3rd entry changes): the final TIMEEND is 2 entries back."""
    from datetime import timedelta

    return timedelta(seconds=20)


@pytest.fixture
def mariadb_dbs(request, tmp_path):
    """Grants and passwords are server features (SQLite has file permissions, and tests run as root)."""
    server = request.getfixturevalue("mariadb_server")
    names = [f"{request.node.name[:20]}_{i}".replace("-", "_").replace("[", "").replace("]", "") for i in "st"]
    for name in names:
        server.create_database(name)
    dbs = Databases("mariadb", tmp_path, server.url(names[0]), server.url(names[1]))
    yield dbs
    dbs.close()
    for name in names:
        server.drop_database(name)


def test_target_user_without_insert_is_an_operator_error_not_an_outage(mariadb_dbs, capsys):
    dbs = mariadb_dbs
    src = dbs.engine("source")
    insert(src, create_adtemp(src), rows_changing_every(50, 1))
    scrape(dbs.settings(**REGIME, maxiter=3))  # tables exist, a few records written by a privileged user
    target_db, source_db = sa.make_url(dbs.target_url).database, sa.make_url(dbs.source_url).database
    with dbs.engine("source").connect() as conn:
        conn.exec_driver_sql("CREATE USER IF NOT EXISTS 'reader'@'localhost'")
        conn.exec_driver_sql(f"GRANT SELECT ON `{target_db}`.* TO 'reader'@'localhost'")
        conn.exec_driver_sql(f"GRANT SELECT ON `{source_db}`.* TO 'reader'@'localhost'")
    dbs.target_url = dbs.target_url.replace("root@", "reader@")
    path = dbs.write_cfg({"scraper": {**REGIME, "metrics": False}})
    t0 = time.monotonic()
    assert cli.main(["--cfg", str(path), "-s", "scraper", "--catchup"]) == 2
    assert time.monotonic() - t0 < 10, "no backoff loop"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"{path} [scraper] target: permission denied:")
    assert "command denied to user 'reader'" in err[0]
