"""`scr.py -S`: program files that a real supervisord runs — stop/start, kill -9 -> restarted, exit 2 ->
not restarted — and the target stays restart-invariant throughout."""
from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from factories import create_adtemp
from processes import newest, wait_for
from scraper import cli
from support import scrape, target_rows

BIN = Path(sys.executable).parent
REGIME = {"regime": "regimes.adtemp:AdTemp", "interval": "10s", "maxage": "2m", "threshold": 5,
          "source_tz": "UTC"}
SECTIONS = {
    "faker": {"regime": "regimes.adtemp:AdTemp", "mode": "faker", "sleep": "0.02s", "interval": "10s",
              "profile": "modulo_ramp", "maxiter": 0, "faker_timestart": "2011-02-01 00:00:00"},
    "scraper": {**REGIME, "heartbeat": "0.5s", "batch": 50},
}


def test_generated_program_file_runs_the_section_and_never_restart_loops_an_operator_error(sqlite_dbs, tmp_path):
    cfg = sqlite_dbs.write_cfg(SECTIONS)
    assert cli.main(["--cfg", str(cfg), "-S", str(tmp_path / "one.ini"), "-s", "scraper"]) == 0
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(tmp_path / "one.ini")
    prog = ini["program:scraper"]
    assert prog["command"] == f"{BIN / 'scr.py'} -s scraper"
    assert prog["environment"] == f'SCRAPER_CFG="{cfg}"'
    assert (prog["autorestart"], prog["exitcodes"], prog["startsecs"]) == ("unexpected", "0,2,3", "0")
    assert (prog["stopsignal"], prog["stopwaitsecs"]) == ("TERM", "60")
    assert prog["stdout_logfile"] == str(cfg.parent / "var" / "log" / "scraper.log")


def test_bad_section_writes_no_program_file(sqlite_dbs, tmp_path, capsys):
    cfg = sqlite_dbs.write_cfg({**SECTIONS, "typo": {**REGIME, "maxage": "2x"}})
    assert cli.main(["--cfg", str(cfg), "-S", str(tmp_path / "all"), "-s", "ALL"]) == 2
    assert "[typo] maxage" in capsys.readouterr().err
    assert not (tmp_path / "all").exists()


def program_argv(ini_path: Path, section: str) -> list[str]:
    """The argv supervisord runs for `command` (it expands %% to % and splits like a shell)."""
    import shlex

    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ini_path)
    return shlex.split(ini[f"program:{section}"]["command"].replace("%%", "%"))


def test_overrides_are_carried_into_the_program_it_runs(sqlite_dbs, tmp_path):
    cfg = sqlite_dbs.write_cfg(SECTIONS)
    odd = "var/odd 100% name.sentinel"  # a space for the shell, a % for supervisord's expansion
    (cfg.parent / "var").mkdir(exist_ok=True)
    assert cli.main(["--cfg", str(cfg), "-S", str(tmp_path / "one.ini"), "-s", "scraper", "--maxage", "5m",
                     "--exit_sentinel", odd]) == 0
    argv = program_argv(tmp_path / "one.ini", "scraper")
    assert argv[1:] == ["-s", "scraper", "--maxage", "5m", "--exit_sentinel", odd]
    shown = subprocess.run([*argv, "--help"], env={**os.environ, "SCRAPER_CFG": str(cfg)}, cwd=cfg.parent,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    lines = {line.split()[0]: line for line in shown.stdout.splitlines()[2:] if line.strip()}
    assert lines["maxage"].split()[1] == "5m" and odd in lines["exit_sentinel"]


def test_an_override_a_run_would_refuse_writes_nothing(sqlite_dbs, tmp_path, capsys):
    cfg = sqlite_dbs.write_cfg(SECTIONS)
    assert cli.main(["--cfg", str(cfg), "-S", str(tmp_path / "one.ini"), "-s", "scraper", "--maxage", "5x"]) == 2
    assert cli.main(["--cfg", str(cfg), "-s", "scraper", "--maxage", "5x"]) == 2  # as a run of it
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0] == err[1] and "command line [scraper] --maxage" in err[0]
    assert not (tmp_path / "one.ini").exists()


def test_all_is_all_or_nothing_naming_the_first_bad_section(sqlite_dbs, tmp_path, capsys):
    cfg = sqlite_dbs.write_cfg({"good": SECTIONS["scraper"], "bad1": {**REGIME, "interval": "-1s"},
                                "bad2": {**REGIME, "maxage": "2x"}})
    assert cli.main(["--cfg", str(cfg), "-S", str(tmp_path / "all"), "-s", "ALL"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "[bad1] interval" in err[0]
    assert not (tmp_path / "all").exists()


def test_one_run_flags_are_refused_in_one_line(sqlite_dbs, tmp_path, capsys):
    cfg = sqlite_dbs.write_cfg(SECTIONS)
    assert cli.main(["--cfg", str(cfg), "-S", str(tmp_path / "one.ini"), "-s", "scraper", "--DROP_TARGET_TABLES"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--DROP_TARGET_TABLES" in err[0]
    assert not (tmp_path / "one.ini").exists()


def entries(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM DBNS_SAB_Temp")).scalar()


SUPERVISORD_CONF = """\
[unix_http_server]
file={d}/supervisor.sock
[supervisord]
logfile={d}/supervisord.log
pidfile={d}/supervisord.pid
childlogdir={d}
nodaemon=true
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://{d}/supervisor.sock
[include]
files = {d}/programs/*.ini
"""


class Supervisor:
    def __init__(self, d: Path):
        self.conf = d / "supervisord.conf"
        self.conf.write_text(SUPERVISORD_CONF.format(d=d))
        self.proc = subprocess.Popen([str(BIN / "supervisord"), "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ctl(self, *args: str) -> str:
        return subprocess.run([str(BIN / "supervisorctl"), "-c", str(self.conf), *args],
                              capture_output=True, text=True, timeout=60).stdout.strip()

    def state(self, name: str) -> str:
        return self.ctl("status", name).split()[1]

    def pid(self, name: str) -> int:
        return int(self.ctl("pid", name) or 0)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.ctl("shutdown")
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.mark.skipif(not (BIN / "supervisord").exists(), reason="supervisor is not installed in the venv")
def test_supervised_scraper_survives_stop_start_and_kill_9_with_an_identical_target(sqlite_dbs, tmp_path):
    sections = {**SECTIONS, "broken": {**REGIME, "target": f"sqlite:///{tmp_path / 'missing' / 'x.db'}"}}
    cfg = sqlite_dbs.write_cfg(sections)
    assert cli.main(["--cfg", str(cfg), "-S", str(tmp_path / "programs"), "-s", "ALL"]) == 0
    ini = (tmp_path / "programs" / "scraper.ini")
    # the scraper needs its target tables: the one-time creation is an operator's explicit step
    ini.write_text(ini.read_text().replace("-s scraper", "-s scraper --ALLOW_DROP_CREATE_TABLE"))
    src, tgt = sqlite_dbs.engine("source"), sqlite_dbs.engine("target")
    create_adtemp(src)  # the DCS table exists before the scraper starts (else: exit 2, not restarted)
    sup = Supervisor(tmp_path)
    try:
        wait_for(lambda: newest(tgt, "DcsAdTempVld", "TIMEEND") is not None, 30, "the supervised scraper's writes")
        assert sup.ctl("stop", "scraper") == "scraper: stopped"
        assert "received SIGTERM: stopping after the current sample" in (cfg.parent / "var/log/scraper.log").read_text()
        assert sup.state("scraper") == "STOPPED"
        assert sup.ctl("start", "scraper") == "scraper: started"
        before = sup.pid("scraper")
        time.sleep(0.5)
        os.kill(before, signal.SIGKILL)
        wait_for(lambda: sup.pid("scraper") not in (0, before), 20, "supervisord to restart the killed scraper")
        assert sup.state("scraper") == "RUNNING"
        # the operator error (target file missing) ran once, exited 2 and was left alone
        assert sup.state("broken") == "EXITED"
        broken_log = (cfg.parent / "var/log/broken.log").read_text().splitlines()
        assert len(broken_log) == 1 and "does not exist" in broken_log[0]
        # enough source for the comparison below to mean something (> 20 records: one per ~10 entries)
        wait_for(lambda: entries(src) >= 300, 60, "the supervised faker's first 300 entries")
        assert sup.ctl("stop", "faker") == "faker: stopped"
        assert sup.ctl("stop", "scraper") == "scraper: stopped"
    finally:
        sup.close()
    assert newest(src, "DBNS_SAB_Temp", "date_time") is not None
    # whatever the supervised runs left, finishing with --catchup equals one uninterrupted run
    settings = sqlite_dbs.settings
    scrape(settings(**REGIME))
    scrape(settings(**REGIME, kls="Reference"))
    got, expected = target_rows(tgt, "DcsAdTemp"), target_rows(tgt, "Reference")
    assert len(expected) > 20
    assert got == expected
