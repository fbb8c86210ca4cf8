"""The shipped Grafana dashboard works on the bridged demo file: every SQL query of every panel, with
the SQLite data source's macros expanded as the plugin expands them, returns rows whose time column
is in a form the plugin reads as time (unix seconds as a number, or RFC3339 text)."""
from __future__ import annotations

import json
import re
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from scraper import commands

# one worker runs these tests (make test: --dist loadgroup) and builds their fixture once: session
# scope, as xdist interleaves other modules' tests, which would tear a module-scoped one down
pytestmark = pytest.mark.xdist_group("grafana-demo")

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "grafana" / "dashboards" / "dcs-bridge.json"
DATASOURCE = ROOT / "grafana" / "provisioning" / "datasources" / "dcs-bridge.yaml"
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@pytest.fixture(scope="session")  # see pytestmark
def demo_file(tmp_path_factory) -> Path:
    """The demo's bridged file, made by the sections of the shipped scraper.cfg (a shorter fake day)."""
    tmp = tmp_path_factory.mktemp("grafana")
    source, live = f"sqlite:///{tmp / 'fake_dcs.db'}", tmp / "grafana" / "live.db"
    cfg = str(ROOT / "scraper.cfg")
    for faker in ("adtemp_faker", "pmthv_faker", "adlid_faker"):
        commands.run(commands.settings(cfg, faker, {"source": source, "maxiter": "600"}))
    for section in ("adtemp_bridge", "pmthv_bridge", "adlid_bridge"):
        summary = commands.run(commands.settings(cfg, section, {"source": source, "target": f"sqlite:///{live}"}),
                               catchup=True)
        assert summary.entries > 0
    return live


def expand(sql: str, start_ms: int, end_ms: int) -> str:
    """The plugin's macros: $__from/$__to (ms since the epoch) and $__unixEpochGroupSeconds(col, s)."""
    sql = re.sub(r"\$__unixEpochGroupSeconds\(\s*([^,]+?)\s*,\s*(\d+)\s*\)", r"cast((\1 / \2) as int) * \2", sql)
    return sql.replace("$__from", str(start_ms)).replace("$__to", str(end_ms))


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def targets():
    dash = json.loads(DASHBOARD.read_text())
    for panel in dash["panels"]:
        for target in panel["targets"]:
            yield pytest.param(dash, panel, target, id=f"{panel['id']}{target['refId']}")


@pytest.mark.parametrize("dash, panel, target", list(targets()))
def test_every_dashboard_query_returns_rows_with_a_time_column_grafana_reads(demo_file, dash, panel, target):
    if panel.get("timeFrom"):  # a panel showing the last hours of wall-clock time (self-metrics)
        end = int(time.time() * 1000) + 60_000
        start = end - 25 * 3600 * 1000
    else:
        start, end = ms(dash["time"]["from"]), ms(dash["time"]["to"])
    con = sqlite3.connect(f"file:{demo_file}?mode=ro", uri=True)
    try:
        cur = con.execute(expand(target["rawQueryText"], start, end))
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    finally:
        con.close()
    assert rows, panel["title"]
    for column in target["timeColumns"]:
        values = [r[names.index(column)] for r in rows]
        for v in values:
            if isinstance(v, str):
                assert RFC3339.match(v), v
            else:
                assert isinstance(v, (int, float)) and start / 1000 <= v < end / 1000, v
    assert [v for v in values] == sorted(values), "Grafana wants time series in time order"


def test_the_provisioned_data_source_is_the_one_the_dashboard_uses():
    text = DATASOURCE.read_text()
    assert "type: frser-sqlite-datasource" in text and "path: /var/lib/grafana/live.db" in text
    uid = re.search(r"uid: (\S+)", text).group(1)
    dash = json.loads(DASHBOARD.read_text())
    assert {t["datasource"]["uid"] for p in dash["panels"] for t in p["targets"]} == {uid}
