"""What the mode-neutral runner gives every mode: outage retries, self-metrics, and one clear line
(exit 3, nothing half-written) when a regime's own code fails on an entry."""
from __future__ import annotations

import subprocess
import sys
import threading
from datetime import datetime, timedelta

import sqlalchemy as sa

from factories import AdTempRowFactory, create_adtemp, create_lid, insert, lid_rows
from processes import with_modules
from scraper import commands
from scraper.runtime import metrics
from support import FRAGILE_REGIME, target_rows, validities

AVG = {"regime": "regimes.adlid:AdLid", "mode": "averager", "timefloor": "2011-01-01 00:00:00",
       "aggregate": "avg,min,max,std", "aggregate_skips": "id,date_time,Quality",
       "aggregate_filter": "Quality != 0", "bin": "1h", "territory": "1h", "backoff_cap": "0.3s"}


def metric_totals(engine: sa.Engine, section: str) -> dict[str, float]:
    m = metrics.metrics_table().c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(m.name, sa.func.sum(m.value)).where(m.section == section)
                            .group_by(m.name)).all()
    return {name: value for name, value in rows}


def test_an_averager_run_writes_its_self_metrics(sqlite_dbs):
    create_lid(sqlite_dbs.engine("source"), lid_rows(2000, datetime(2011, 2, 1), timedelta(seconds=30)))
    summary = commands.run(sqlite_dbs.settings(**AVG), allow_create=True)
    got = metric_totals(sqlite_dbs.engine("target"), "test")
    assert summary.propagations > 10
    assert got["propagations"] == summary.propagations
    assert got["entries_read"] == summary.entries_read
    assert got["errors"] == 0


class OutageAfter(threading.Event):
    """A stop event that, at the runner's `n`-th look between two chunks, stops the MariaDB server
    and has it started again a moment later: the outage falls between two chunks, always."""

    def __init__(self, server, n: int):
        super().__init__()
        self.server, self.n, self.restarted = server, n, threading.Event()

    def is_set(self) -> bool:
        self.n -= 1
        if self.n == 0:
            self.server.stop()
            threading.Timer(1.0, self._restart).start()
        return super().is_set()

    def _restart(self) -> None:
        self.server.start()
        self.restarted.set()


def test_the_averager_retries_through_an_outage_and_loses_nothing(own_server, caplog):
    server, dbs = own_server
    src = dbs.engine("source")
    create_lid(src, lid_rows(3000, datetime(2011, 2, 1), timedelta(seconds=20)))
    src.dispose()
    stop = OutageAfter(server, 3)
    summary = commands.run(dbs.settings(**AVG), allow_create=True, stop=stop)
    assert stop.restarted.wait(30)
    downs = [r for r in caplog.records if "DB down:" in r.getMessage()]
    ups = [r for r in caplog.records if "DB back up after" in r.getMessage()]
    assert downs and len(ups) == len(downs), "one line when the outage starts, one when it ends"
    tgt = dbs.engine("target")
    assert metric_totals(tgt, "test")["errors"] >= 1
    commands.run(dbs.settings(**{**AVG, "kls": "Reference"}), allow_create=True)
    assert summary.propagations == len(target_rows(tgt, "DcsAdLidSensor")) > 10
    assert target_rows(tgt, "DcsAdLidSensor") == target_rows(tgt, "Reference")


def test_a_regime_failing_on_an_entry_is_one_line_exit_3_and_only_whole_records(sqlite_dbs, tmp_path):
    rows = AdTempRowFactory.build_batch(60)
    for i, row in enumerate(rows):
        row["Temp_PT1"] = float(i // 5)
    rows[40]["Temp_PT1"] = None
    src = sqlite_dbs.engine("source")
    insert(src, create_adtemp(src), rows)
    (tmp_path / "fragile.py").write_text(FRAGILE_REGIME)
    cfg = sqlite_dbs.write_cfg({"s": {"regime": "fragile:Fragile", "interval": "10s", "maxage": "1h",
                                      "threshold": 0.5}})
    proc = subprocess.run([sys.executable, "-m", "scraper", "--cfg", str(cfg), "-s", "s", "--catchup",
                           "--ALLOW_DROP_CREATE_TABLE"], capture_output=True, text=True, cwd=tmp_path,
                          env=with_modules(tmp_path), timeout=60)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    line = [e for e in err if "failed on" in e]
    assert len(line) == 1, err
    assert line[0].startswith("regime fragile:Fragile: FragileScraper.changed() failed on DBNS_SAB_Temp entry "
                              f"id={rows[40]['id']} at {rows[40]['date_time']} (source-local): TypeError: ")
    spans = validities(sqlite_dbs.engine("target"), "DcsAdTemp")
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:])), "contiguous: no half-written record"
    assert spans and spans[-1][1] <= rows[40]["date_time"]
