"""Catch-up progress: a redrawn bar on a terminal, periodic one-event log lines otherwise."""
from __future__ import annotations

import re
import subprocess
import sys

from factories import AdTempRowFactory, create_adtemp, insert
from processes import on_a_terminal

REGIME = {"regime": "regimes.adtemp:AdTemp", "interval": "10s", "maxage": "2m", "threshold": 0.5,
          "batch": 5, "progress_every": "0.000001s"}  # below any round: one line per round


def _backlog(dbs, n=4000):
    src = dbs.engine("source")
    rows = AdTempRowFactory.build_batch(n)
    for i, r in enumerate(rows):
        r["Temp_PT1"] = float(i // 4)
    insert(src, create_adtemp(src), rows)
    return dbs.write_cfg({"scraper": REGIME})


def test_catch_up_on_a_terminal_draws_a_bar_with_eta(sqlite_dbs):
    cfg = _backlog(sqlite_dbs)
    status, screen, _ = on_a_terminal(cfg, "scraper", "--catchup", "--ALLOW_DROP_CREATE_TABLE", "--loglevel",
                                      "WARNING", timeout=60)
    assert status == 0
    bars = re.findall(r"\r\x1b\[K\[([#-]{30})\] catch-up +(\d+)% (\d+) entries, DB time [^\r]* ETA (\S+)", screen)
    assert len(bars) >= 2, screen[-2000:]
    percents = [int(p) for _, p, _, _ in bars]
    assert percents == sorted(percents) and percents[-1] > percents[0]
    assert screen.endswith("\r\x1b[K"), "the bar is cleared when the catch-up ends"


def test_catch_up_without_a_terminal_logs_plain_progress_lines(sqlite_dbs):
    cfg = _backlog(sqlite_dbs)
    out = subprocess.run([sys.executable, "-m", "scraper", "--cfg", str(cfg), "-s", "scraper", "--catchup",
                          "--ALLOW_DROP_CREATE_TABLE"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    assert "\r" not in out.stderr
    lines = re.findall(r"scraper\.progress: catch-up +(\d+)% (\d+) entries, DB time (.*) of (.*), ETA (\S+)$",
                       out.stderr, re.M)
    assert len(lines) >= 2, out.stderr[-2000:]
    assert [int(n) for _, n, _, _, _ in lines] == sorted(int(n) for _, n, _, _, _ in lines)
    assert "catch-up done: 4000 entries in" in out.stderr
