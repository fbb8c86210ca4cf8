"""Self-metrics in the target (scraper_metrics) and `scr.py status`, on SQLite and MariaDB."""
from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa

from factories import AdTempRowFactory, create_adtemp, insert
from processes import running, spawn, terminate, wait_for
from scraper import cli
from scraper.runtime import metrics
from scraper.runtime.status import section_status, status
from support import scrape

REGIME = {"regime": "regimes.adtemp:AdTemp", "interval": "10s", "maxage": "2m", "threshold": 0.5,
          "heartbeat": "10s"}


def metric_rows(engine: sa.Engine, section: str) -> list[dict]:
    m = metrics.metrics_table().c
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(m.time, m.name, m.value)
                                              .where(m.section == section).order_by(m.time)).mappings()]


def changing_rows(n: int) -> list[dict]:
    rows = AdTempRowFactory.build_batch(n)
    for i, r in enumerate(rows):
        r["Temp_PT1"] = float(i // 5)
    return rows


def test_metric_counters_per_period_add_up_to_the_run_totals(dbs):
    src = dbs.engine("source")
    insert(src, create_adtemp(src), changing_rows(3000))
    # a period shorter than the run, so there are several rows per metric
    summary = scrape(dbs.settings(**REGIME, metrics_every="0.02s", batch=50))
    rows = metric_rows(dbs.engine("target"), "test")
    names = {r["name"] for r in rows}
    assert names == set(metrics.NAMES)
    total = {n: sum(r["value"] for r in rows if r["name"] == n) for n in metrics.COUNTERS}
    assert total["propagations"] == summary.propagations == 599
    assert total["entries_read"] == summary.entries_read == 3000
    assert total["queries"] == summary.queries
    assert total["errors"] == 0
    assert sum(1 for r in rows if r["name"] == "propagations") >= 2
    assert [r["value"] for r in rows if r["name"] == "lag_s"][-1] == 0  # ended caught up


def test_metrics_can_be_switched_off(sqlite_dbs):
    src = sqlite_dbs.engine("source")
    insert(src, create_adtemp(src), changing_rows(50))
    scrape(sqlite_dbs.settings(**REGIME, metrics=False))
    assert not sa.inspect(sqlite_dbs.engine("target")).has_table(metrics.TABLE)


def test_status_reports_every_section_with_its_health(dbs, capsys):
    src = dbs.engine("source")
    rows = changing_rows(600)
    insert(src, create_adtemp(src), rows)
    sections = {
        "faker": {"regime": "regimes.adtemp:AdTemp", "mode": "faker"},
        "done": {**REGIME, "kls": "Done"},
        "behind": {**REGIME, "kls": "Behind"},
        "never": {**REGIME, "kls": "Never"},
        "broken": {**REGIME, "maxage": "10x"},
    }
    path = dbs.write_cfg(sections)
    scrape(cli_settings(path, "done"))
    scrape(cli_settings(path, "behind", maxiter=100))
    got = {s.section: s for s in status(str(path))}
    assert list(got) == list(sections)
    assert got["faker"].health == "-" and f"newest entry {rows[-1]['date_time']:%Y-%m-%d %H:%M:%S} UTC" in got["faker"].note
    done = got["done"]
    assert (done.mode, done.health) == ("scraper", "OK")
    assert done.last_validity == rows[-1]["date_time"] - timedelta(seconds=40)  # last change (every 5 entries)
    assert done.lag == timedelta(seconds=40) and done.last_write_age < timedelta(seconds=30)
    assert "lag_s 0" in done.note and "errors 0" in done.note
    assert got["behind"].health == "LAGGING" and got["behind"].lag > timedelta(minutes=80)
    assert got["never"].health == "NEVER RUN" and "NeverVld" in got["never"].note
    assert got["broken"].health == "ERROR" and '[broken] maxage: "10x" is not a duration' in got["broken"].note
    # nothing written for longer than maxage + 2 heartbeats: STALE, however close to the source it is
    later = done.last_write_age + timedelta(minutes=2, seconds=21)
    from scraper.targets.dbi import utcnow
    assert section_status(str(path), "done", now=utcnow() + later).health == "STALE"
    assert cli.main(["--cfg", str(path), "status"]) == 1  # not every section is OK
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["SECTION", "MODE", "LAST", "VALIDITY"]
    assert len(table) == 1 + len(sections)
    # what a monitor alarms on: exit 0 when every section runs well or was never started, 1 otherwise
    healthy = dbs.write_cfg({k: sections[k] for k in ("faker", "done", "never")}, name="healthy.cfg")
    assert cli.main(["--cfg", str(healthy), "status"]) == 0
    assert "NEVER RUN" in capsys.readouterr().out


def cli_settings(path, section, **overrides):
    from scraper import commands

    return commands.settings(str(path), section, overrides)


def test_status_works_while_a_scraper_is_writing(dbs):
    src = dbs.engine("source")
    table = create_adtemp(src)
    insert(src, table, changing_rows(20000))
    path = dbs.write_cfg({"scraper": {**REGIME, "batch": 20, "metrics_every": "0.2s"}})
    proc = spawn(path, "scraper", "--ALLOW_DROP_CREATE_TABLE")
    with running(proc):
        wait_for(lambda: section_status(str(path), "scraper").last_validity is not None, 30, "the first propagations")
        # watch until the validity has moved (a loaded box may take a while: no fixed time window),
        # reading the status every 0.1 s rather than in a loop that would starve the scraper; a fast box
        # may have read everything by the first look, so the DCS goes on writing while we watch
        seen = []
        deadline = time.monotonic() + 60
        while len(seen) < 3 or seen[-1] == seen[0]:
            assert time.monotonic() < deadline, f"the validity did not move in 60 s: {seen[-1:]}"
            st = section_status(str(path), "scraper")
            assert st.health in ("OK", "LAGGING"), st
            seen.append(st.last_validity)
            if len(seen) >= 3 and seen[-1] == seen[0]:
                insert(src, table, changing_rows(50))  # later entries (the factory's sequence goes on)
            time.sleep(0.1)
        status_, _, _ = terminate(proc)
    assert status_ == 0
    assert seen == sorted(seen) and seen[0] < seen[-1]  # it moved while we watched, never backwards
