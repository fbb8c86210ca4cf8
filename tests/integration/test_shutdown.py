"""Clean shutdown: SIGTERM/SIGINT or the sentinel file end a section with exit 0 within one sample,
whether it is sleeping (live, long heartbeat) or catching up in batches."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from factories import AdTempRowFactory, create_adtemp, insert
from processes import newest, running, spawn, terminate, wait_for
from support import SLOW_REGIME, scrape, target_rows

REGIME = {"regime": "regimes.adtemp:AdTemp", "interval": "10s", "maxage": "2m", "threshold": 0.5}
SLEEPY = {**REGIME, "heartbeat": "1h", "sleep": "1h"}  # a sleeping scraper must still stop at once


def _sleeping_scraper(dbs, **extra):
    src = dbs.engine("source")
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(30))
    cfg = dbs.write_cfg({"scraper": {**SLEEPY, **extra}})
    log = cfg.parent / "scraper.log"
    proc = spawn(cfg, "scraper", "--ALLOW_DROP_CREATE_TABLE", log=log)
    return cfg, log, proc


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_a_sleeping_scraper_at_once_with_exit_0(sqlite_dbs, signum):
    _, log, proc = _sleeping_scraper(sqlite_dbs)
    with running(proc):
        wait_for(lambda: "caught up" in log.read_text() or "tune detects" in log.read_text(), 20, "idle")
        time.sleep(0.3)
        status, took, out = terminate(proc, signum)
    assert status == 0, log.read_text()[-2000:]
    assert took < 10, "its sleep is an hour: a stop must not wait for it"
    assert f"received {signum.name}: stopping after the current sample" in log.read_text()
    assert "entries read 30" in out


def test_sentinel_file_stops_the_section_and_is_consumed(sqlite_dbs):
    cfg, log, proc = _sleeping_scraper(sqlite_dbs)
    sentinel = cfg.parent / "var" / "PLEASE-EXIT-scraper"  # default: var/PLEASE-EXIT-{section}
    with running(proc):
        wait_for(lambda: "tune detects" in log.read_text(), 20, "idle")
        sentinel.parent.mkdir(exist_ok=True)
        t0 = time.monotonic()
        sentinel.touch()
        assert proc.wait(timeout=30) == 0
        took = time.monotonic() - t0
    assert took < 10, "its sleep is an hour: the sentinel is looked for while it sleeps"
    assert f"found sentinel {sentinel}: stopping" in log.read_text()
    assert not sentinel.exists(), "consumed, so the next start runs normally"


def test_configured_sentinel_also_stops_a_faker(sqlite_dbs, tmp_path):
    sentinel = tmp_path / "stop-now"
    cfg = sqlite_dbs.write_cfg({"faker": {"regime": "regimes.adtemp:AdTemp", "mode": "faker", "sleep": "0.05s",
                                          "maxiter": 0, "exit_sentinel": str(sentinel)}})
    src = sqlite_dbs.engine("source")
    proc = spawn(cfg, "faker")
    with running(proc):
        wait_for(lambda: newest(src, "DBNS_SAB_Temp", "date_time") is not None, 20, "fake entries")
        sentinel.touch()
        assert proc.wait(timeout=30) == 0


def test_sigterm_during_batch_catch_up_exits_promptly_and_restart_completes_the_target(dbs, tmp_path):
    src = dbs.engine("source")
    rows = AdTempRowFactory.build_batch(6000)
    for i, r in enumerate(rows):
        r["Temp_PT1"] = float(i // 7)  # a propagation every 7 entries: 857, at 20 ms each a long catch-up
    insert(src, create_adtemp(src), rows)
    (tmp_path / "slow.py").write_text(SLOW_REGIME)
    cfg = dbs.write_cfg({"scraper": {**REGIME, "regime": "slow:Slow", "batch": 20}})
    proc = spawn(cfg, "scraper", "--catchup", "--ALLOW_DROP_CREATE_TABLE", path=tmp_path)
    tgt = dbs.engine("target")
    with running(proc):
        wait_for(lambda: newest(tgt, "DcsAdTempVld", "TIMEEND") is not None, 60, "the first propagations")
        status, took, _ = terminate(proc)
    assert status == 0
    assert took < 10, "a few seconds, not the rest of the catch-up"
    assert newest(tgt, "DcsAdTempVld", "TIMEEND") < rows[-1]["date_time"], "stopped before the end"
    scrape(dbs.settings(**REGIME))  # resume in-process
    scrape(dbs.settings(**REGIME, kls="Reference"))
    assert target_rows(tgt, "DcsAdTemp") == target_rows(tgt, "Reference")


def test_a_program_calling_main_is_not_left_ignoring_signals(sqlite_dbs):
    """A run ignores SIGTERM/SIGINT only while its own process shuts down (so a late SIGTERM cannot
    turn exit 0 into death by signal). A program that calls main() itself — a test, a wrapper — goes
    on with working signals, and so does every program it starts: an ignored signal is inherited."""
    src = sqlite_dbs.engine("source")
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(30))
    cfg = sqlite_dbs.write_cfg({"scraper": REGIME})
    program = (f"import signal, subprocess, sys\nfrom scraper.cli import main\n"
               f"assert main(['--cfg', {str(cfg)!r}, '-s', 'scraper', '--catchup', '--ALLOW_DROP_CREATE_TABLE']) == 0\n"
               f"child = subprocess.run(['sh', '-c', 'kill -TERM $$; sleep 30'])\n"
               f"print(child.returncode, signal.getsignal(signal.SIGTERM) is signal.SIG_IGN)\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == [str(-signal.SIGTERM), "False"], done.stdout
