"""`python -m bench.wal_reader [HOLD_S]`: the size of a live bridge's -wal file while a Grafana-like reader
holds one read transaction for HOLD_S seconds (default 60), and after it lets go (docs/bridge.md).

A faker writes entries into a throwaway SQLite source as fast as it can; a live bridge copies them
into live.db (default wal_autocheckpoint = 1000 pages); a reader opens live.db read-only, BEGINs, reads,
and holds its snapshot. The -wal file is sampled every 0.1 s: before the hold, at its largest during the
hold, and once the bridge has written ten rounds after the reader let go.
"""
from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from processes import running, scalar, spawn, wait_for  # noqa: E402
from support import Databases  # noqa: E402


def wal_mb(path: Path) -> float:
    try:
        return Path(f"{path}-wal").stat().st_size / 1e6
    except FileNotFoundError:
        return 0.0


def rounds(live: Path) -> int:
    con = sqlite3.connect(f"file:{live}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("SELECT count(*) FROM bridge_points").fetchone()[0]
    except sqlite3.OperationalError:  # not made yet
        return 0
    finally:
        con.close()


def measure(hold: float) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="wal-reader-"))
    live = tmp / "grafana" / "live.db"
    dbs = Databases("sqlite", tmp, f"sqlite:///{tmp / 'src.db'}", f"sqlite:///{tmp / 'tgt.db'}")
    cfg = dbs.write_cfg({
        "faker": {"regime": "regimes.adtemp:AdTemp", "mode": "faker", "interval": "1s", "sleep": "0.0005s",
                  "profile": "modulo_ramp", "maxiter": 0},
        "bridge": {"regime": "regimes.adtemp:AdTemp", "mode": "bridge", "target": f"sqlite:///{live}",
                   "sleep": "0.1s", "timefloor": "2010-01-01 00:00:00", "loglevel": "WARNING"},
    })
    src = dbs.engine("source")
    faker = spawn(cfg, "faker")
    with running(faker):
        wait_for(lambda: scalar(src, "SELECT count(*) FROM DBNS_SAB_Temp") > 100, 30, "the faker")
        bridge = spawn(cfg, "bridge")
        with running(bridge):
            wait_for(lambda: live.exists() and rounds(live) > 20, 60, "the bridge's first rounds")
            time.sleep(5)
            before = wal_mb(live)
            reader = sqlite3.connect(f"file:{live}?mode=ro", uri=True, isolation_level=None)
            reader.execute("BEGIN")
            reader.execute('SELECT count(*) FROM "DBNS_SAB_Temp"').fetchone()
            largest, end = before, time.monotonic() + hold
            while time.monotonic() < end:
                largest = max(largest, wal_mb(live))
                time.sleep(0.1)
            reader.execute("COMMIT")
            reader.close()
            released = rounds(live)
            wait_for(lambda: rounds(live) >= released + 10, 60, "ten rounds after the reader let go")
            after = wal_mb(live)
            bridge.terminate()
        faker.terminate()
    return {"hold_s": hold, "wal_before_mb": before, "wal_largest_during_mb": largest, "wal_after_mb": after,
            "entries": scalar(src, "SELECT count(*) FROM DBNS_SAB_Temp")}


if __name__ == "__main__":
    result = measure(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
    print("  ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()))
