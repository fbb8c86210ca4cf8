"""A 10 Hz monitor for the decimator's two-process tests and benchmark: `python tests/live_writer.py URL OUT`.

Every 0.1 s of real time it commits one reading of five instruments into cbpm3_data (DB time
continuing after the newest row, 0.1 s per reading) and measures how long that INSERT + COMMIT took
- the time a decimator pass could make a live writer wait. A write that fails
(a lock wait timeout) counts with the time it took. On SIGTERM it writes
{"writes": N, "failed": F, "max_s": worst, "p99_s": ..., "started": t0, "stopped": t1} (monotonic clock) to OUT.
"""
from __future__ import annotations

import json
import signal
import sys
import time
from datetime import datetime, timedelta

import sqlalchemy as sa

INSTRUMENTS = ("10AE", "10AW", "12E", "12W", "15E")


def main(url: str, out: str) -> int:
    engine = sa.create_engine(url, connect_args={"timeout": 60} if url.startswith("sqlite") else {})
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    table = sa.table("cbpm3_data", sa.column("timestamp", sa.DateTime), sa.column("instr"),
                     *(sa.column(c) for c in ("top_in", "bot_in", "bot_out", "top_out")))
    with engine.connect() as conn:
        newest = conn.execute(sa.select(sa.func.max(table.c.timestamp))).scalar()
    at = datetime.fromisoformat(str(newest)) if newest else datetime(2020, 11, 4)
    latencies: list[float] = []
    failed = 0
    t0 = tick = time.monotonic()
    n = 0
    while not stopping:
        n += 1
        at += timedelta(seconds=0.1)
        rows = [{"timestamp": at, "instr": g, "top_in": n, "bot_in": n, "bot_out": n, "top_out": n}
                for g in INSTRUMENTS]
        begin = time.monotonic()
        try:
            with engine.begin() as conn:
                conn.execute(table.insert(), rows)
        except sa.exc.OperationalError:  # e.g. InnoDB's lock wait timeout (50 s): a failed write, counted
            failed += 1
        latencies.append(time.monotonic() - begin)
        tick += 0.1
        time.sleep(max(0.0, tick - time.monotonic()))
    latencies.sort()
    report = {"writes": len(latencies), "failed": failed, "max_s": latencies[-1] if latencies else None,
              "p99_s": latencies[int(0.99 * (len(latencies) - 1))] if latencies else None,
              "started": t0, "stopped": time.monotonic()}
    with open(out, "w") as f:
        json.dump(report, f)
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
