"""`python -m bench.look`: how fast `scr.py report` replays a day of data (issue 17: "9 combinations
in a few seconds, reading the range once").

Side by side on the same faked day (the demo's adtemp: 8640 entries every 10 s; pmthv: 2 x 1440
entries of 192 channels), SQLite:
1. `report` with 9 combinations (threshold x maxage), in-process, fastest of --repeat runs;
2. `report` with 1 combination (the configured one): what the read and the fidelity cost alone;
3. 9 real `--catchup` scrapes into a throwaway target, one per combination: what finding the same
   numbers costs without report (and it writes);
4. the console script end to end (`scr.py report ...` in a fresh process: imports included).
Results to stdout and var/bench_look.json.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scraper import commands  # noqa: E402

CFG = """\
[DEFAULT]
source_tz = Asia/Shanghai
timefloor = 2011-01-01 00:00:00
loglevel = WARNING
source = sqlite:///look_source.db
target = sqlite:///look_target.db

[adtemp_faker]
regime = regimes.adtemp:AdTemp
mode = faker
faker_dropsrc = True
profile = sine
interval = 10s
sleep = 0
maxiter = 8640

[adtemp_scraper]
regime = regimes.adtemp:AdTemp
interval = 10s
maxage = 10m
threshold = 0.5

[pmthv_faker]
regime = regimes.pmthv:PmtHv
mode = faker
profile = step
interval = 1m
sleep = 0
maxiter = 1440

[pmthv_scraper]
regime = regimes.pmthv:PmtHv
interval = 1m
maxage = 1h
threshold = 5.0
"""
FROM, TO = "2011-01-31 16:00:00", "2011-02-01 16:00:00"  # the faked day, in UTC
GRID = {"adtemp_scraper": ("0.25,0.5,1", "10m,1h,2h"), "pmthv_scraper": ("1,5,10", "30m,1h,2h")}


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """Fastest wall time and its CPU time: the machine is shared, CPU time says what the code costs."""
    best, cpu, result = float("inf"), 0.0, None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall = time.perf_counter() - t0
        if wall < best:
            best, cpu = wall, time.process_time() - c0
    return best, cpu, result


def bench_section(path: Path, section: str, repeat: int) -> dict:
    thresholds, maxages = GRID[section]

    def report(th=thresholds, ma=maxages):
        return commands.report(str(path), section, None, start=FROM, end=TO, thresholds=th, maxages=ma)

    nine_s, nine_cpu, rep = timed(report, repeat)
    cfg = commands.settings(str(path), section)
    one_s, one_cpu, _ = timed(lambda: report(str(cfg.threshold), None), repeat)
    t0, c0 = time.perf_counter(), time.process_time()
    for th in thresholds.split(","):
        for ma in maxages.split(","):
            variant = commands.settings(str(path), section, {"threshold": th, "maxage": ma})
            commands.run(variant, allow_create=True, drop=True, catchup=True)
    scrapes_s, scrapes_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    cli = subprocess.run([sys.executable, "-m", "scraper", "report", "--cfg", str(path), "-s", section,
                          "--from", FROM, "--to", TO, "--threshold", thresholds, "--maxage", maxages],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    cli_s = time.perf_counter() - t0
    if cli.returncode:
        raise SystemExit(cli.stderr)
    out = {"section": section, "entries": rep.entries, "combinations": len(rep.rows),
           "report_9_s": nine_s, "report_9_cpu_s": nine_cpu, "report_1_s": one_s, "report_1_cpu_s": one_cpu,
           "nine_scrapes_cpu_s": scrapes_cpu, "per_combination_s": (nine_s - one_s) / 8,
           "nine_scrapes_s": scrapes_s, "scrapes_over_report": scrapes_s / nine_s, "cli_wall_s": cli_s,
           "records": [r.records for r in rep.rows]}
    print(f"[{section}] {rep.entries} entries: report of 9 combinations {nine_s:.2f}s (CPU {nine_cpu:.2f}s; "
          f"1 combination {one_s:.2f}s, {out['per_combination_s'] * 1000:.0f} ms per further one); 9 real scrapes "
          f"{scrapes_s:.2f}s (CPU {scrapes_cpu:.2f}s) = {out['scrapes_over_report']:.1f}x the report; "
          f"`scr.py report` end to end {cli_s:.2f}s", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.look", description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3, help="runs of each report (fastest counts)")
    p.add_argument("--json", default=str(ROOT / "var" / "bench_look.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the throwaway target is dropped 9 times: no warnings
    work = ROOT / "var" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    for name in ("look_source.db", "look_target.db"):
        for f in work.glob(name + "*"):
            f.unlink()
    path = work / "look.cfg"
    path.write_text(CFG)
    for faker in ("adtemp_faker", "pmthv_faker"):
        commands.run(commands.settings(str(path), faker))
    results = {"python": sys.version.split()[0], "cpus": os.cpu_count(),
               "load": os.getloadavg()[0], "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
               "sections": [bench_section(path, s, args.repeat) for s in GRID]}
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
