"""`python -m bench`: the performance bars of issue 3, measured on SQLite and on a throwaway MariaDB.

1. averager over >= 2M AD lid entries (5 s cadence, 20 columns, hourly bins) vs the single raw GROUP BY
   query over the same range (target: ratio <= 1.3);
2. scraper --catchup over >= 1M adtemp-like entries (~1 % propagate) vs the naive per-sample loop of
   the original framework (bench/worker.py naive_loop: one SELECT ... LIMIT 1 per sample, same
   SourceVector rules, same writes; statements built with SQLAlchemy Core, as a framework does) and vs
   the leanest such loop (naive_dbapi_loop: one prepared SQL string per sample on a raw DBAPI cursor),
   each timed on a subset of samples and extrapolated per sample (target: >= 100x);
3. peak RSS of each run, measured in its own process (target: < 150 MB).

Every run is a separate process (python -m bench.worker) so its RSS is its own; start-up (imports,
connecting, reflecting) is reported apart from the run. Results go to stdout and to var/bench.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from . import data
from .common import SERVERS, header, server, write_json

ROOT = Path(__file__).resolve().parents[1]

SECTIONS = """\
[DEFAULT]
source_tz = Asia/Shanghai
timefloor = 2011-01-01 00:00:00
source = {source}
target = {target}

[bench_averager]
regime = regimes.adlid:AdLid
mode = averager
kls = BenchLidHourly
bin = 1h
territory = 1w
aggregate = avg,min,max,std
aggregate_skips = id,date_time,Quality
aggregate_filter = Quality != 0

[bench_scraper]
regime = regimes.adtemp:AdTemp
kls = BenchAdTemp
interval = 10s
maxage = 1w
threshold = 0.5
batch = 1000

[bench_freeform]
regime = bench.worker:FreeFormAdTemp
kls = BenchAdTempFree
interval = 10s
maxage = 1w
threshold = 0.5
batch = 1000
"""


def run_worker(cfg: Path, section: str, mode: str, overrides: dict | None = None) -> dict:
    """Run one measurement in a child process; add its wall time and peak RSS (MB)."""
    cmd = [sys.executable, "-m", "bench.worker", str(cfg), section, mode, json.dumps(overrides or {})]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench worker {section} {mode} failed:\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result.update(wall_s=wall, peak_rss_mb=usage.ru_maxrss / 1024)  # Linux: ru_maxrss is in KiB
    return result


def bench_backend(name: str, source_url: str, target_url: str, args, workdir: Path) -> dict:
    cfg = workdir / f"bench_{name}.cfg"
    text = SECTIONS.format(source=source_url, target=target_url)
    if name == "postgresql":  # mixed-case names are quoted there (docs/config.md, aggregate_filter)
        text = text.replace("aggregate_filter = Quality != 0", "aggregate_filter = '\"Quality\" != 0'")
    cfg.write_text(text)
    src = sa.create_engine(source_url)
    out: dict = {"backend": name}
    t0 = time.perf_counter()
    data.make_adlid(src, args.avg_rows)
    data.make_adtemp(src, args.scrape_rows)
    out["generate_s"] = time.perf_counter() - t0
    with src.connect() as conn:  # warm the caches for both contenders alike
        q = src.dialect.identifier_preparer.quote
        conn.execute(sa.text(f"SELECT count(*), avg({q('Temp_LS')}) FROM {q('AD1_LidSensor')}")).all()
        conn.execute(sa.text(f"SELECT count(*), avg({q('Temp_PT1')}) FROM {q('DBNS_SAB_Temp')}")).all()
    src.dispose()
    print(f"[{name}] generated {args.avg_rows} lid + {args.scrape_rows} temp entries in {out['generate_s']:.1f}s",
          flush=True)

    # The machine is shared: alternate the contenders and keep each one's fastest run.
    raws, avgs = [], []
    for _ in range(0 if args.skip_averager else args.repeat):
        raws.append(run_worker(cfg, "bench_averager", "raw"))
        avgs.append(run_worker(cfg, "bench_averager", "averager"))
    if avgs:
        raw, avg = min(raws, key=lambda r: r["run_s"]), min(avgs, key=lambda r: r["run_s"])
        out["averager_runs_s"] = [r["run_s"] for r in avgs]
        out["raw_runs_s"] = [r["run_s"] for r in raws]
        out["averager"] = avg
        out["raw_group_by"] = raw
        out["averager_ratio_run"] = avg["run_s"] / raw["run_s"]
        out["averager_ratio_wall"] = avg["wall_s"] / raw["wall_s"]
        assert avg["entries"] == raw["entries"] and avg["samples"] == raw["bins"], (avg, raw)
        print(f"[{name}] averager {avg['run_s']:.2f}s ({avg['samples']} bins, {avg['queries']} queries) vs raw GROUP BY "
              f"{raw['run_s']:.2f}s: ratio {out['averager_ratio_run']:.2f} (target <= 1.3); whole process "
              f"{avg['wall_s']:.2f}s vs {raw['wall_s']:.2f}s: {out['averager_ratio_wall']:.2f}; "
              f"peak RSS {avg['peak_rss_mb']:.0f} MB", flush=True)

    # issue 12: at the DEFAULT log level (INFO), against the floor of each design, side by side
    scans, fulls, raws_, rules, frees = [], [], [], [], []
    for _ in range(args.repeat):
        scans.append(run_worker(cfg, "bench_scraper", "scan"))
        fulls.append(run_worker(cfg, "bench_scraper", "scan_unchanged"))
        rules.append(run_worker(cfg, "bench_scraper", "scraper"))
        raws_.append(run_worker(cfg, "bench_scraper", "raw_pass"))
        frees.append(run_worker(cfg, "bench_freeform", "scraper"))
    best = lambda runs: min(runs, key=lambda r: r["run_s"])  # noqa: E731
    # a server's work is not this process's CPU: the CPU ratio means something for SQLite only
    cpu = (lambda ratio: f"; in CPU {ratio:.1f}") if name == "sqlite" else (lambda ratio: "")  # noqa: E731
    scan, full, rule, rawp, free = best(scans), best(fulls), best(rules), best(raws_), best(frees)
    assert rule["samples"] == free["samples"] == rawp["rows"] and rule["propagations"] == free["propagations"]
    out.update(scan_predicate=scan, scan_unchanged=full, rule_ratio_unchanged=rule["run_s"] / full["run_s"],
               rule_catchup=rule, raw_pass=rawp, freeform_catchup=free,
               rule_ratio=rule["run_s"] / scan["run_s"], freeform_ratio=free["run_s"] / rawp["run_s"],
               rule_runs_s=[r["run_s"] for r in rules], freeform_runs_s=[r["run_s"] for r in frees],
               # this process's CPU (every thread), fastest of the runs: on a shared box the wall-clock
               # ratio depends on how much CPU each run was given; for SQLite (in-process) this one does not
               rule_ratio_cpu=min(r["cpu_s"] for r in rules) / min(r["cpu_s"] for r in scans),
               freeform_ratio_cpu=min(r["cpu_s"] for r in frees) / min(r["cpu_s"] for r in raws_))
    print(f"[{name}] rule catch-up {rule['run_s']:.2f}s ({rule['queries']} queries, {rule['propagations']} "
          f"propagations) vs one statement scanning with the predicate {scan['run_s']:.3f}s: ratio "
          f"{out['rule_ratio']:.1f} (target <= 5){cpu(out['rule_ratio_cpu'])}; vs the same scan evaluating every "
          f"term on every row (no entry changed, as a search sees most) {full['run_s']:.3f}s: "
          f"{out['rule_ratio_unchanged']:.1f}", flush=True)
    print(f"[{name}] free-form changed() catch-up {free['run_s']:.2f}s ({free['queries']} queries) vs one raw "
          f"DBAPI pass {rawp['run_s']:.2f}s: ratio {out['freeform_ratio']:.1f} (target <= 3)"
          f"{cpu(out['freeform_ratio_cpu'])}", flush=True)

    fast = rule
    out["catchup"] = fast
    per = 1e6 * fast["run_s"] / fast["samples"]
    print(f"[{name}] catch-up {fast['run_s']:.2f}s for {fast['samples']} samples ({per:.1f} us/sample), "
          f"{fast['propagations']} propagations ({100 * fast['propagations'] / fast['samples']:.2f} %), "
          f"{fast['queries']} source queries; peak RSS {fast['peak_rss_mb']:.0f} MB", flush=True)
    naives = []
    for mode in ("naive", "naive_dbapi"):
        naive = run_worker(cfg, "bench_scraper", mode, {"maxiter": args.naive_samples, "kls": "BenchAdTempNaive"})
        per_sample = naive["run_s"] / naive["samples"]
        naive_est = per_sample * fast["samples"]
        naive.update(per_sample_us=per_sample * 1e6, extrapolated_s=naive_est, speedup=naive_est / fast["run_s"])
        out[mode] = naive
        naives.append(naive)
        print(f"[{name}]   vs {mode} loop: {per_sample * 1e6:.0f} us/sample over {naive['samples']} samples -> "
              f"{naive_est:.0f}s extrapolated to {fast['samples']}: speed-up {naive['speedup']:.0f}x"
              f"{' (target >= 100x)' if mode == 'naive' else ' (the cheapest one-query-per-sample design)'};"
              f" peak RSS {naive['peak_rss_mb']:.0f} MB", flush=True)
    out["catchup_speedup"] = out["naive"]["speedup"]
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in (*avgs, *raws, fast, free, *naives))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--avg-rows", type=int, default=2_000_000, help="AD lid entries for the averager (5 s cadence)")
    p.add_argument("--scrape-rows", type=int, default=1_000_000, help="adtemp entries for the catch-up")
    p.add_argument("--naive-samples", type=int, default=20_000, help="samples timed for the naive loop")
    p.add_argument("--repeat", type=int, default=3, help="runs of averager and raw query (fastest counts)")
    p.add_argument("--backends", default="sqlite,mariadb,postgresql")
    p.add_argument("--skip-averager", action="store_true", help="only the catch-up measurements")
    p.add_argument("--json", default=str(ROOT / "var" / "bench.json"))
    args = p.parse_args(argv)
    workdir = ROOT / "var" / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    results = header(args, backends=[])
    for name in args.backends.split(","):
        if name == "sqlite":
            for f in workdir.glob("*.db*"):
                f.unlink()
            results["backends"].append(bench_backend(
                name, f"sqlite:///{workdir / 'source.db'}", f"sqlite:///{workdir / 'target.db'}", args, workdir))
        elif name in SERVERS:
            with server(name) as db_server:
                for db in ("bench_source", "bench_target"):
                    db_server.create_database(db)
                results["backends"].append(bench_backend(
                    name, db_server.url("bench_source"), db_server.url("bench_target"), args, workdir))
        else:
            raise SystemExit(f"unknown backend {name} (use sqlite, mariadb, postgresql)")
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
