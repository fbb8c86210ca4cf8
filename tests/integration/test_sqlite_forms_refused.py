"""The bridge and the decimator read SQLite times spelled `YYYY-MM-DD HH:MM:SS[.ffffff]` only; a
table whose times are `T`-separated text or unix-epoch numbers (both of which the scraper reads) is
refused at start-up in one line naming the source — never bridged out of order, never thinned by
comparing numbers with text. Tables filled with Python's sqlite3, as a DCS program writes them."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from bridge_support import BRIDGE

T0 = datetime(2011, 2, 1, 8, 0, 0)
SPELLINGS = {"T-text": lambda t: t.isoformat(sep="T"), "epoch": lambda t: (t - datetime(1970, 1, 1)).total_seconds()}
WORDS = {"T-text": "YYYY-MM-DDTHH:MM:SS", "epoch": "unix-epoch seconds"}


def run(cfg, section: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scraper", "--cfg", str(cfg), "-s", section, "--catchup",
                           "--ALLOW_DROP_CREATE_TABLE"], capture_output=True, text=True, timeout=120)


def assert_refused(proc: subprocess.CompletedProcess, cfg, section: str, spelling: str, what: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"{cfg} [{section}] source: "), lines[0]
    assert WORDS[spelling] in lines[0] and what in lines[0], lines[0]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_bridge_refuses_a_sqlite_source_spelled_otherwise(sqlite_dbs, spelling):
    path = sqlite_dbs.tmp_path / "fake_dcs.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE DBNS_SAB_Temp (id INTEGER PRIMARY KEY, date_time, "
                     + ", ".join(f"Temp_PT{i} REAL" for i in range(1, 6)) + ")")
        conn.executemany("INSERT INTO DBNS_SAB_Temp VALUES (?, ?, 1, 2, 3, 4, 5)",
                         [(i + 1, SPELLINGS[spelling](T0 + timedelta(seconds=10 * i))) for i in range(20)])
    grafana = sqlite_dbs.tmp_path / "grafana" / "live.db"
    cfg = sqlite_dbs.write_cfg({"b": {**BRIDGE, "source_tz": "UTC", "target": f"sqlite:///{grafana}"}})
    proc = run(cfg, "b")
    assert_refused(proc, cfg, "b", spelling, "the bridge")
    assert not grafana.exists() or not sqlite3.connect(grafana).execute(
        "SELECT name FROM sqlite_master WHERE name = 'DBNS_SAB_Temp'").fetchall(), "nothing bridged"


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_decimator_refuses_a_sqlite_table_spelled_otherwise_and_deletes_nothing(sqlite_dbs, spelling):
    path = sqlite_dbs.tmp_path / "fake_dcs.db"
    with sqlite3.connect(path) as conn:
        conn.execute('CREATE TABLE cbpm3_data (id INTEGER PRIMARY KEY, "timestamp", instr TEXT, '
                     "top_in INTEGER, bot_in INTEGER, bot_out INTEGER, top_out INTEGER)")
        conn.executemany("INSERT INTO cbpm3_data VALUES (?, ?, '10AE', 1, 2, 3, 4)",
                         [(i + 1, SPELLINGS[spelling](T0 + timedelta(seconds=i / 10))) for i in range(600)])
    cfg = sqlite_dbs.write_cfg({"d": {"regime": "regimes.cbpm3:Cbpm3", "mode": "decimator", "keep": "10s",
                                      "every": "10s", "source_tz": "UTC"}})
    proc = run(cfg, "d")
    assert_refused(proc, cfg, "d", spelling, "the decimator")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM cbpm3_data").fetchone() == (600,)
