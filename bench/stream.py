"""`python -m bench.stream [--alerts N]`: the speed of mode stream, side by side in one run.

A throwaway Tansu broker gets a night of N ZTF-like alerts (no replay); then, each in its own process
(peak RSS measured there), into an empty SQLite target:
1. `scr.py -s bench_stream --catchup` (exactly once: keys looked up, rows and positions in one
   transaction per batch);
2. a hand-written loop without exactly-once: consume, decode with fastavro, the same rows with
   executemany, one commit per batch.
The ratio of the two wall times (target <= 1.5), alerts/s, and peak RSS (target < 200 MB).
Results on stdout and in var/bench_stream.json.
"""
from __future__ import annotations

import argparse
import io
import json
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def hand_loop(brokers: str, topic: str, db: str, alerts: int) -> None:
    import fastavro
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from regimes.ztf import Ztf

    conn = sqlite3.connect(db)
    import sqlalchemy as sa
    engine = sa.create_engine(f"sqlite:///{db}")
    md = sa.MetaData()
    tables = Ztf.tables(md)
    md.create_all(engine)
    engine.dispose()
    inserts = {t.name: f"INSERT INTO {t.name} ({', '.join(c.name for c in t.c)}) VALUES "
               f"({', '.join('?' for _ in t.c)})" for t in tables}
    cols = {t.name: [c.name for c in t.c] for t in tables}
    c = Consumer({"bootstrap.servers": brokers, "group.id": "hand", "fetch.wait.max.ms": 50,
                  "enable.auto.commit": False})
    parts = c.list_topics(topic, timeout=30).topics[topic].partitions
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    done = 0
    while done < alerts:
        batch = [m for m in c.consume(500, 0.5) if m.error() is None]
        rows = {name: [] for name in inserts}
        for m in batch:
            alert = next(fastavro.reader(io.BytesIO(m.value())))
            for name, rs in Ztf.rows(alert).items():
                rows[name] += [tuple(r.get(k) for k in cols[name]) for r in rs]
        for name, rs in rows.items():
            conn.executemany(inserts[name], rs)
        conn.commit()
        done += len(batch)
    c.close()


def child(argv: list[str]) -> None:
    t0 = time.perf_counter()
    if argv[0] == "hand":
        hand_loop(argv[1], argv[2], argv[3], int(argv[4]))
    else:
        from scraper.cli import main
        assert main(["--cfg", argv[1], "-s", "bench_stream", "--catchup", "--ALLOW_DROP_CREATE_TABLE",
                     "--loglevel", "WARNING"]) == 0
    took = time.perf_counter() - t0
    print(json.dumps({"seconds": took, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=100_000)
    ap.add_argument("--child", nargs="*")
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return 0
    from scraper.modes.stream.broker import Broker

    work = ROOT / "var" / "bench_stream"
    work.mkdir(parents=True, exist_ok=True)
    for f in work.glob("*.db*"):
        f.unlink()
    with Broker() as b:
        cfg = work / "bench.cfg"
        common = (f"regime = regimes.ztf:Ztf\nbrokers = {b.address}\ntopic = bench_%Y%m%d\n"
                  "night = 2020-12-27\n")
        cfg.write_text(f"[bench_faker]\nmode = stream_faker\n{common}faker_alerts = {args.alerts}\n\n"
                       f"[bench_stream]\nmode = stream\n{common}target = sqlite:///{work / 'stream.db'}\n"
                       "batch = 1000\nconsumer_group = bench\n")
        subprocess.run([sys.executable, "-m", "scraper", "--cfg", str(cfg), "-s", "bench_faker"], check=True)
        runs = {}
        for name, argv in (("stream", ["stream", str(cfg)]),
                           ("hand", ["hand", b.address, "bench_20201227", str(work / "hand.db"), str(args.alerts)])):
            out = subprocess.run([sys.executable, "-m", "bench.stream", "--child", *argv], check=True,
                                 capture_output=True, text=True, cwd=ROOT).stdout
            runs[name] = json.loads(out.strip().splitlines()[-1])
    result = {"alerts": args.alerts, **runs, "ratio": runs["stream"]["seconds"] / runs["hand"]["seconds"],
              "alerts_per_s": args.alerts / runs["stream"]["seconds"]}
    print(json.dumps(result, indent=1))
    (ROOT / "var" / "bench_stream.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
