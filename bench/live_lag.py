"""`python -m bench.live_lag [HEARTBEAT_S] [SECONDS]`: steady-state lag and source queries per heartbeat
of a live scraper behind a live faker (docs/operations.md, sleep tuning), both real processes on throwaway SQLite files.

The faker writes one entry per heartbeat (DB time = real time); modulo_ramp changes every entry by more
than the threshold, so each sampled entry is propagated and the target's newest TIMEEND is exactly the
scraper's reading position. Lag = source latest - newest TIMEEND, sampled every 50 ms.
"""
from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from processes import newest, running, scalar, spawn, terminate, wait_for  # noqa: E402
from support import Databases  # noqa: E402


def measure(heartbeat: float, seconds: float) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="live-lag-"))
    dbs = Databases("sqlite", tmp, f"sqlite:///{tmp / 'src.db'}", f"sqlite:///{tmp / 'tgt.db'}")
    cfg = dbs.write_cfg({
        "faker": {"regime": "regimes.adtemp:AdTemp", "mode": "faker", "interval": f"{heartbeat}s",
                  "sleep": f"{heartbeat}s", "profile": "modulo_ramp", "maxiter": 0},
        "scraper": {"regime": "regimes.adtemp:AdTemp", "interval": f"{heartbeat}s", "heartbeat": f"{heartbeat}s",
                    "maxage": "10m", "threshold": 0.5},
    })
    src, tgt = dbs.engine("source"), dbs.engine("target")
    faker = spawn(cfg, "faker")
    with running(faker):
        wait_for(lambda: scalar(src, "SELECT count(*) FROM DBNS_SAB_Temp") > 4, 30, "the faker")
        scraper = spawn(cfg, "scraper", "--ALLOW_DROP_CREATE_TABLE")
        started = time.monotonic()
        with running(scraper):
            wait_for(lambda: newest(tgt, "DcsAdTempVld", "TIMEEND") is not None, 30, "the first propagation")
            time.sleep(1.0)
            lags, t0 = [], time.monotonic()
            while time.monotonic() - t0 < seconds:
                lag = newest(src, "DBNS_SAB_Temp", "date_time") - newest(tgt, "DcsAdTempVld", "TIMEEND")
                lags.append(lag.total_seconds() / heartbeat)
                time.sleep(0.05)
            _, _, out = terminate(scraper)
            ran = time.monotonic() - started
        faker.terminate()
    dbs.close()
    lags.sort()
    queries = int(re.search(r"source queries (\d+)", out).group(1))
    return {"heartbeat_s": heartbeat, "samples": len(lags), "lag_median_hb": lags[len(lags) // 2],
            "lag_p90_hb": lags[int(len(lags) * 0.9)], "lag_max_hb": lags[-1],
            "queries": queries, "run_s": round(ran, 1), "queries_per_heartbeat": round(queries / (ran / heartbeat), 2)}


if __name__ == "__main__":
    hb = float(sys.argv[1]) if len(sys.argv) > 1 else 0.25
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    r = measure(hb, secs)
    print(f"heartbeat {r['heartbeat_s']}s: lag in heartbeats over {r['samples']} samples: median "
          f"{r['lag_median_hb']:.2f}, p90 {r['lag_p90_hb']:.2f}, max {r['lag_max_hb']:.2f}; "
          f"{r['queries']} source queries in {r['run_s']}s = {r['queries_per_heartbeat']} per heartbeat")
