"""`python -m bench.soak [--minutes 4]`: a live faker and a live scraper on MariaDB under faults.

For a few minutes a faker writes adtemp entries in real time and a scraper propagates them, while this
script, at random moments, stops the MariaDB server and starts it again, makes the target read-only
(`SET GLOBAL read_only`; the scraper's user has no SUPER) and writable again, and SIGKILLs the scraper
and restarts it (as supervisord would). At the end the faker is stopped, the scraper finishes with
--catchup, a reference section scrapes the same source in one uninterrupted --catchup run, and the two
targets are compared row by row (ignoring SEQNO and INSERTDATE: restart invariance, docs/concepts.md).

Prints the counts (outages survived, read-only spells, kills, records compared, differences — which
must be 0) and writes them as JSON to var/soak.json. Not part of the test suite: it takes minutes.
"""
from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from mariadb_server import MariaDBServer  # noqa: E402
from support import target_rows  # noqa: E402

CFG = """\
[DEFAULT]
regime = regimes.adtemp:AdTemp
source = {source}
backoff_cap = 2s
loglevel = WARNING

[soak_faker]
mode = faker
interval = 10s
sleep = 0.02s
profile = random_walk
walk_step = 0.3

[soak_scraper]
target = {target}
interval = 10s
maxage = 5m
threshold = 0.5
heartbeat = 0.5s
sleep = 0.5s
timefloor = 2011-01-01 00:00:00
metrics_every = 5s

[soak_reference]
target = {reference}
kls = DcsAdTemp
interval = 10s
maxage = 5m
threshold = 0.5
timefloor = 2011-01-01 00:00:00
metrics = False
"""


def scr(cfg: Path, section: str, *args: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "scraper", "--cfg", str(cfg), "-s", section, *args],
                            stdout=subprocess.DEVNULL, stderr=open(log, "ab"), cwd=cfg.parent)


def admin(server: MariaDBServer, sql: str) -> None:
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute(sql)


def soak(minutes: float, seed: int, out: Path) -> dict:
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="scraper-soak-"))
    counts = {"minutes": minutes, "seed": seed, "outages": 0, "read_only": 0, "kills": 0,
              "unexpected_exits": 0, "faker_exits": 0}
    with MariaDBServer() as server:
        for name in ("soak_dcs", "soak_offline", "soak_reference"):
            server.create_database(name)
        admin(server, "CREATE USER 'soak'@'localhost'")  # no SUPER: read_only applies to it
        admin(server, "GRANT ALL ON `soak_offline`.* TO 'soak'@'localhost'")
        admin(server, "GRANT SELECT ON `soak_dcs`.* TO 'soak'@'localhost'")
        cfg = work / "scraper.cfg"
        cfg.write_text(CFG.format(source=server.url("soak_dcs"),
                                  target=server.url("soak_offline").replace("root@", "soak@"),
                                  reference=server.url("soak_reference")))
        logs = {name: work / f"{name}.log" for name in ("faker", "scraper", "reference")}
        faker = scr(cfg, "soak_faker", "--faker_dropsrc", "True", log=logs["faker"])
        time.sleep(3)
        scraper = scr(cfg, "soak_scraper", "--ALLOW_DROP_CREATE_TABLE", log=logs["scraper"])
        end = time.monotonic() + minutes * 60
        while time.monotonic() < end:
            time.sleep(rng.uniform(3, 10))
            for proc, key in ((scraper, "unexpected_exits"), (faker, "faker_exits")):
                if proc.poll() is not None:
                    counts[key] += 1  # a supervised program that ended on its own: a failure
            if scraper.poll() is not None:
                scraper = scr(cfg, "soak_scraper", log=logs["scraper"])
            if faker.poll() is not None:
                faker = scr(cfg, "soak_faker", log=logs["faker"])
            event = rng.choice(("outage", "read_only", "kill"))
            if event == "outage":
                server.stop()
                time.sleep(rng.uniform(1, 6))
                server.start()
                counts["outages"] += 1
            elif event == "read_only":
                admin(server, "SET GLOBAL read_only = 1")
                time.sleep(rng.uniform(1, 6))
                admin(server, "SET GLOBAL read_only = 0")
                counts["read_only"] += 1
            else:
                time.sleep(rng.uniform(0, 1))
                scraper.send_signal(signal.SIGKILL)
                scraper.wait()
                scraper = scr(cfg, "soak_scraper", log=logs["scraper"])
                counts["kills"] += 1
        faker.send_signal(signal.SIGTERM)
        counts["faker_status"] = faker.wait(timeout=60)
        scraper.send_signal(signal.SIGTERM)
        counts["scraper_status"] = scraper.wait(timeout=60)
        for section, log in (("soak_scraper", logs["scraper"]), ("soak_reference", logs["reference"])):
            flags = ("--catchup", "--ALLOW_DROP_CREATE_TABLE")
            counts[f"{section}_catchup_status"] = scr(cfg, section, *flags, log=log).wait(timeout=600)
        got = target_rows(sa.create_engine(server.url("soak_offline")), "DcsAdTemp")
        expected = target_rows(sa.create_engine(server.url("soak_reference")), "DcsAdTemp")
        src = sa.create_engine(server.url("soak_dcs"))
        with src.connect() as conn:
            counts["source_entries"] = conn.execute(sa.text("SELECT COUNT(*) FROM DBNS_SAB_Temp")).scalar()
        counts["records_compared"] = max(len(got), len(expected))
        counts["differences"] = sum(a != b for a, b in zip(got, expected)) + abs(len(got) - len(expected))
        text = "\n".join(p.read_text(errors="replace") for p in logs.values())
        counts["tracebacks_in_logs"] = text.count("Traceback")
        counts["outage_lines"] = text.count("DB down:")
        counts["logs"] = str(work)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(counts, indent=2) + "\n")
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--out", type=Path, default=ROOT / "var" / "soak.json")
    args = ap.parse_args()
    counts = soak(args.minutes, args.seed, args.out)
    print(f"soak {args.minutes:g} min (seed {args.seed}): outages survived {counts['outages']}, read-only spells "
          f"{counts['read_only']}, scraper kills {counts['kills']}, unexpected exits {counts['unexpected_exits']}, "
          f"source entries {counts['source_entries']}, records compared {counts['records_compared']}, "
          f"differences {counts['differences']}, tracebacks in logs {counts['tracebacks_in_logs']}")
    print(f"wrote {args.out}")
    ok = counts["differences"] == 0 and counts["unexpected_exits"] == 0 and counts["tracebacks_in_logs"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
