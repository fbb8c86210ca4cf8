"""`scr.py show` and `scr.py plot` on logger sections: the logged tables read like bridged ones (a table
per topic, `time` in UTC unix seconds), on every backend, after real polls of an emulated device; and
the demo's cryostat run through an outage, as `make demo` runs it."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

from fakers.devices import Mmr3Device
from logger_support import ROOT, expected_mmr3, mmr3_section, write_cfg
from scraper import commands, modes
from test_cli_errors import one_line_error, scr
from test_look import png_size


def utc_text(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def logged(dbs, tmp_path, polls: int = 6):
    with Mmr3Device() as dev:
        path = write_cfg(tmp_path / "l.cfg", {"m": mmr3_section(dev.url, dbs.target_url, maxiter=polls, sleep="0.05s")})
        commands.run(modes.settings(str(path), "m"))
    assert len(dev.replies) == polls
    return modes.settings(str(path), "m"), expected_mmr3(dev.replies)


def test_show_on_a_logger_section_gives_every_channel_at_or_last_before_a_time(dbs, tmp_path):
    cfg, expected = logged(dbs, tmp_path)
    times = sorted({t for t, *_ in expected})
    shown = commands.show(cfg, at=utc_text((times[-2] + times[-1]) / 2))  # after the 5th poll, before the 6th
    # (midway: a poll that ran late is followed at once, so two may be closer than any fixed step)
    assert [(p.table, float(p.unix), p.values["channel"], p.values["R"], p.values["T"]) for p in shown.points] == \
        [("mmr3", *row) for row in expected if row[0] == times[-2]]
    ranged = commands.show(cfg, start=utc_text(times[0]), end=utc_text(times[-1]), fmt="json")
    rows = json.loads(ranged.text())["rows"]
    assert [(r["time"], *(r["values"][c] for c in ("channel", "R", "T"))) for r in rows] == expected  # time, channel
    assert [r["table"] for r in rows] == ["mmr3"] * 18 and json.loads(ranged.text())["mode"] == "logger"


def test_plot_on_a_logger_section_draws_one_series_per_channel_and_column(dbs, tmp_path):
    cfg, expected = logged(dbs, tmp_path)
    out = tmp_path / "mmr3.png"
    done = commands.plot(cfg, start=utc_text(expected[0][0] - 1), end=utc_text(expected[-1][0] + 1), out=str(out))
    assert png_size(out) == done.size
    assert done.points == len(expected) == 18
    # channel is the same in each row of an instant: a label, not a curve
    assert sorted((s.row, s.column) for s in done.shown) == [(n, c) for n in (1, 2, 3) for c in ("R", "T")]
    assert all(f"channel={s.row}" in s.label for s in done.shown)


def test_the_console_script_shows_a_logger_section_and_names_a_time_outside_its_data(sqlite_dbs, tmp_path):
    cfg, expected = logged(sqlite_dbs, tmp_path, polls=3)
    proc = scr("show", "--cfg", str(cfg.path), "-s", "m", "--at", utc_text(expected[-1][0]), "--format", "csv",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split(",")[:4] == ["TABLE", "time", "UTC", "channel"]
    assert [line.split(",")[3] for line in lines[1:]] == ["1", "2", "3"]
    line = one_line_error(scr("show", "--cfg", str(cfg.path), "-s", "m", "--at", "2001-01-01", cwd=tmp_path))
    assert "[m] --at: 2001-01-01 00:00:00 UTC is outside the data" in line and "logger" in line


def test_the_demo_logs_a_cryostat_through_an_outage_spooled_and_drained(tmp_path):
    """`python -m fakers.cryo_demo` (make demo): a real HTTP device, a real logger process, the target
    locked in the middle; every reading served is in the target once, the spool empty, nothing left running."""
    target = tmp_path / "lab.db"
    cfg = write_cfg(tmp_path / "d.cfg", {"c": {"regime": "regimes.ricochet:Cryo", "mode": "logger",
                                               "device": "http://127.0.0.1:9", "target": f"sqlite:///{target}",
                                               "metrics": "False"}})
    proc = subprocess.run([sys.executable, "-m", "fakers.cryo_demo", "--cfg", str(cfg), "--section", "c"],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[demo] target locked after" in proc.stdout and "[demo] target back with" in proc.stdout
    assert "left in the spool 0" in proc.stdout
    summary = next(line for line in proc.stdout.splitlines() if line.startswith("[c] polls"))
    assert ", dropped 0," in summary and "spooled 0," not in summary  # the outage went through the spool
    assert proc.stderr.count("target DB down") == 1 and proc.stderr.count("target DB back up") == 1
    assert not (tmp_path / "spool" / "c.spool").exists() or (tmp_path / "spool" / "c.spool").stat().st_size == 0
