"""A password is the operator's secret: from ~/.my.cnf it reaches the driver and nothing else. Planted
there (and in a URL's query, where it is refused), it must not appear in anything scr.py shows or
writes: a run's output and log (at DEBUG), `--help`, `status`, an exit-2 line, a `-S` program file."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

import factories
from factories import AdTempRowFactory, create_adtemp, insert
from processes import running, spawn, terminate, wait_for

PASSWORD = "Pl4nted-S3cret-9q"
SECTION = {"regime": "regimes.adtemp:AdTemp", "timefloor": "2011-02-01 00:00:00", "maxage": "1m",
           "threshold": "0.5"}


def scr(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SCRAPER_CFG"}
    env.update({"HOME": str(cwd), "SCRAPER_MYCNF": str(cwd / "my.cnf"), "SCRAPER_CFG": str(cwd / "scraper.cfg")})
    return subprocess.run([sys.executable, "-m", "scraper", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def write_cfg(path: Path, sections: dict[str, dict[str, str]]) -> None:
    path.write_text("".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())
                            for name, keys in sections.items()))


def test_a_planted_password_appears_nowhere(mariadb_server, tmp_path, monkeypatch):
    names = ("secret_src", "secret_tgt")
    for name in names:
        mariadb_server.create_database(name)
    with mariadb_server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER IF NOT EXISTS 'planted'@'localhost' IDENTIFIED BY '{PASSWORD}'")
        for name in names:
            cur.execute(f"GRANT ALL ON `{name}`.* TO 'planted'@'localhost'")
    try:
        factories.reset()
        src = sa.create_engine(mariadb_server.url(names[0]))
        insert(src, create_adtemp(src), AdTempRowFactory.build_batch(40))
        src.dispose()
        login = f"user = planted\npassword = {PASSWORD}\nsocket = {mariadb_server.socket}\n"
        (tmp_path / "my.cnf").write_text(f"[dcs]\n{login}database = {names[0]}\n[offline]\n{login}database = "
                                         f"{names[1]}\n[typo]\n{login}database = no_such_database\n"
                                         f"[down]\nuser = planted\npassword = {PASSWORD}\ndatabase = {names[1]}\n"
                                         f"socket = {tmp_path / 'no-server.sock'}\n")
        (tmp_path / "var").mkdir()
        write_cfg(tmp_path / "scraper.cfg", {
            "run": {**SECTION, "source": "dcs", "target": "offline", "loglevel": "DEBUG"},
            "typo": {**SECTION, "source": "dcs", "target": "typo"},
            "down": {**SECTION, "source": "dcs", "target": "down", "backoff_cap": "0.5s"},
        })
        outage_log = tmp_path / "outage.log"
        monkeypatch.setenv("SCRAPER_MYCNF", str(tmp_path / "my.cnf"))  # for spawn(), as scr() sets it
        down = spawn(tmp_path / "scraper.cfg", "down", log=outage_log)
        with running(down):  # an outage: its log line names the database, not the password
            wait_for(lambda: "DB down" in outage_log.read_text(), 60, "the outage line")
            terminate(down)
        seen: dict[str, subprocess.CompletedProcess] = {
            "run": scr(tmp_path, "-s", "run", "--catchup", "--ALLOW_DROP_CREATE_TABLE"),
            "help": scr(tmp_path, "-s", "run", "--help"),
            "status": scr(tmp_path, "status"),
            "-S": scr(tmp_path, "-S", str(tmp_path / "programs"), "-s", "ALL"),
            "exit 2": scr(tmp_path, "-s", "typo", "--catchup"),
            "query": scr(tmp_path, "-s", "run", "--target",
                         f"mysql+pymysql://planted@localhost/{names[1]}?passwd={PASSWORD}"),
        }
        assert seen["run"].returncode == 0, seen["run"].stderr[-3000:]
        assert "DEBUG" in seen["run"].stderr, "the most talkative log level was exercised"
        assert seen["help"].returncode == 0 and "offline" in seen["help"].stdout
        assert "run" in seen["status"].stdout and "typo" in seen["status"].stdout
        assert seen["-S"].returncode == 0
        assert seen["exit 2"].returncode == 2 and "no_such_database" in seen["exit 2"].stderr
        assert seen["query"].returncode == 2 and "holds a password" in seen["query"].stderr
        assert "down" in seen["status"].stdout and "no-server.sock" in seen["status"].stdout
        for what, proc in seen.items():
            assert PASSWORD not in proc.stdout + proc.stderr, what
        assert PASSWORD not in outage_log.read_text()
        programs = list((tmp_path / "programs").glob("*.ini"))
        assert len(programs) == 3
        for path in programs:
            assert PASSWORD not in path.read_text(), path
        for path in (tmp_path / "var").rglob("*"):
            if path.is_file():
                assert PASSWORD.encode() not in path.read_bytes(), path
    finally:
        with mariadb_server.connect() as conn, conn.cursor() as cur:
            cur.execute("DROP USER IF EXISTS 'planted'@'localhost'")
        for name in names:
            mariadb_server.drop_database(name)
