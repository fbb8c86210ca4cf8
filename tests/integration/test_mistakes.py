"""The table of operator mistakes: each ends `scr.py` with exit status 2 and ONE line on stderr naming
the file, section and key (or the option) at fault — no traceback, and nothing written: the target is
unchanged and no file appears.

One row per mistake, run with --ALLOW_DROP_CREATE_TABLE so that nothing but the mistake can hold a run
back: through the console script's own cli.main in this process (tests/cli_here.py: the line and the
exit status are cli.main's, a process start-up adds ~0.5 s of CPU and nothing to prove), and for one row
of each family (REAL) as the real CLI in a subprocess the way an operator (or supervisord) would. Outages are the
other half of the contract (tests/integration/test_faults.py): those are waited out, never exit 2.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

import factories
from cli_here import here  # noqa: F401 - fixture
from factories import AdTempRowFactory, create_adtemp, insert
from support import scrape

# one worker runs these tests (make test: --dist loadgroup) and builds their fixture once: session
# scope, as xdist interleaves other modules' tests, which would tear a module-scoped one down
pytestmark = pytest.mark.xdist_group("mistakes-prepared")

SECTION = "s"
BASE = {"regime": "regimes.adtemp:AdTemp", "source": "sqlite:///src.db", "target": "sqlite:///tgt.db",
        "timefloor": "2011-02-01 00:00:00", "metrics": "False"}


@dataclass
class Mistake:
    key: str | None  # the key the line names (None: the line names the file or option instead; --KEY: the
    # command line's, for a value typed there that does not parse)
    words: tuple[str, ...]
    keys: dict[str, str] = field(default_factory=dict)  # set in the section
    args: tuple[str, ...] = ()  # extra command-line words
    files: dict[str, bytes] = field(default_factory=dict)  # written into the directory first


NOT_A_DB = b"SQLite format 2? no: this is a text file someone named .db\n" * 50
SQLITE_ROWS = {
    "regime with a SyntaxError": Mistake("regime", ("SyntaxError", "badregime.py, line 2"),
                                         {"regime": "badregime:X"}, files={"badregime.py": b"x = 1\ndef f(:\n"}),
    "regime raising at import": Mistake("regime", ("RuntimeError at import", "no calibration"),
                                        {"regime": "raising:X"},
                                        files={"raising.py": b"raise RuntimeError('no calibration')\n"}),
    "config file not UTF-8": Mistake(None, ("is not UTF-8 text",), files={"latin1.cfg": b""}),
    "my.cnf not UTF-8": Mistake("source", ("is not UTF-8 text",), {"source": "dcs"},
                                files={"my.cnf": b"[dcs]\nuser = caf\xe9\n"}),
    "unknown driver": Mistake("target", ('"mysql+nosuchdriver" is not a database driver',),
                              {"target": "mysql+nosuchdriver://scraper@localhost/offline_db"}),
    "password in a URL": Mistake("target", ("holds a password", "~/.my.cnf"),
                                 {"target": "mysql+pymysql://scraper:s3cret@localhost/offline_db"}),
    "password in a PostgreSQL URL": Mistake("source", ("holds a password", "~/.pgpass"),
                                            {"source": "postgresql://dcs:s3cret@localhost/dcs"}),
    "password in a URL query": Mistake("target", ("holds a password", "~/.my.cnf"),
                                       {"target": "mysql+pymysql://scraper@localhost/offline_db?passwd=s3cret"}),
    "password in a PostgreSQL URL query": Mistake("source", ("holds a password", "~/.pgpass"),
                                                  {"source": "postgresql+psycopg://dcs@localhost/dcs?Password=s3cret"}),
    "password in an unparseable URL": Mistake("target", ("is not a SQLAlchemy URL", "scraper:***@"),
                                              {"target": "mysql+pymysql://scraper:s3cret@local:host:x/db"}),
    "-S to an impossible path": Mistake(None, ("cannot write program files",), args=("-S", "/proc/no/such/x.ini")),
    "heartbeat 0": Mistake("--heartbeat", ("not a positive duration",), args=("--heartbeat", "0")),
    "interval 0": Mistake("interval", ("not a positive duration",), {"interval": "0"}),
    "interval -10s": Mistake("--interval", ('"-10s" is not a duration',), args=("--interval", "-10s")),
    "timefloor 0001-01-01": Mistake("--timefloor", ("outside the years 1900 to 9000",),
                                    args=("--timefloor", "0001-01-01 00:00:00")),
    "timefloor in the future": Mistake("--timefloor", ("is in the future",), args=("--timefloor", "2999-01-01 00:00:00")),
    "threshold nan": Mistake("--threshold", ('"nan" is not a finite number',), args=("--threshold", "nan")),
    "threshold inf": Mistake("--threshold", ('"inf" is not a finite number',), args=("--threshold", "inf")),
    "source not a database": Mistake("source", ("file is not a database",), {"source": "sqlite:///junk.db"},
                                     files={"junk.db": NOT_A_DB}),
    "target not a database": Mistake("target", ("file is not a database",), {"target": "sqlite:///junk.db"},
                                     files={"junk.db": NOT_A_DB}),
    "missing SQLite source": Mistake("source", ("does not exist",), {"source": "sqlite:///gone.db"}),
    "kls LOCALSEQNO": Mistake("--kls", ("a table the scraper or the database itself uses",), args=("--kls", "LOCALSEQNO")),
    "kls sqlite_master": Mistake("--kls", ("a table the scraper or the database itself uses",),
                                 args=("--kls", "sqlite_master")),
    "kls with a space": Mistake("kls", ("is not a table name",), {"kls": "canary table"}),
    "kls with a semicolon": Mistake("--kls", ("is not a table name",), args=("--kls", "canary;drop")),
    "kls new but source table missing": Mistake("source", ('table "DBNS_SAB_Temp" not found',),
                                                {"kls": "canary", "source": "sqlite:///empty.db"},
                                                files={"empty.db": b""}),
    "seed_timeend before seed_timestart": Mistake("seed_timeend", ("is before seed_timestart",), {
        "seed_target_tables": "True", "seed_timestart": "2011-02-01 00:00:00", "seed_timeend": "2011-01-01 00:00:00"}),
    "exit_sentinel in a missing directory": Mistake("exit_sentinel", ("does not exist",),
                                                    {"exit_sentinel": "no/such/dir/STOP"}),
    "unknown key on the command line": Mistake(None, ("command line [s] --bogus: unknown key",),
                                               args=("--bogus", "3")),
}


# a real process for one row of each family: a regime beside the config (PYTHONPATH), the file's
# encoding, a database file, a program file (-S), the command line; the server's grants and names
REAL = {"regime with a SyntaxError", "config file not UTF-8", "source not a database", "-S to an impossible path",
        "unknown key on the command line", "wrong password", "source"}


def scr(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SCRAPER_CFG",)}
    env.update({"HOME": str(cwd), "SCRAPER_MYCNF": str(cwd / "my.cnf"), "PYTHONPATH": str(cwd)})
    return subprocess.run([sys.executable, "-m", "scraper", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def write_cfg(path: Path, keys: dict[str, str]) -> None:
    path.write_text(f"[{SECTION}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))


def sqlite_state(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def files_in(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")
            if not p.name.endswith(("-wal", "-shm", "-journal")) and "__pycache__" not in p.parts}


def assert_one_line(proc: subprocess.CompletedProcess, cfg: Path, key: str | None, words: tuple[str, ...]) -> str:
    """`key` as `--KEY`: a value typed after scr.py that does not parse, named on the command line."""
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    if key is not None:
        named = f"command line [{SECTION}] {key}: " if key.startswith("--") else f"{cfg} [{SECTION}] {key}: "
        assert line.startswith(named), line
    for word in words:
        assert word in line, line
    return line


@pytest.fixture(scope="session")  # see pytestmark
def prepared(tmp_path_factory) -> Path:
    """A source with entries and a target that already holds a few propagations."""
    base = tmp_path_factory.mktemp("mistakes")
    factories.reset()
    src = sa.create_engine(f"sqlite:///{base / 'src.db'}")
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(50))
    src.dispose()
    cfg = base / "scraper.cfg"
    write_cfg(cfg, {**BASE, "maxiter": "10"})
    from scraper import commands

    scrape(commands.settings(str(cfg), SECTION))
    cfg.unlink()
    return base


@pytest.mark.parametrize("name", list(SQLITE_ROWS))
def test_mistake_is_one_line_exit_2_and_writes_nothing(prepared, tmp_path, name, here):
    row = SQLITE_ROWS[name]
    for db in ("src.db", "tgt.db"):
        (tmp_path / db).write_bytes((prepared / db).read_bytes())
    for fname, content in row.files.items():
        (tmp_path / fname).write_bytes(content)
    cfg = tmp_path / "scraper.cfg"
    write_cfg(cfg, {**BASE, **row.keys})
    if name == "config file not UTF-8":
        cfg.write_bytes(cfg.read_bytes() + b"# R\xe9gime des capteurs\n")
    before, state = files_in(tmp_path), sqlite_state(tmp_path / "tgt.db")
    args = ("--cfg", str(cfg), "-s", SECTION, *row.args)
    if "-S" not in row.args:
        args += ("--catchup", "--ALLOW_DROP_CREATE_TABLE")
    proc = scr(tmp_path, *args) if name in REAL else here(*args, cwd=tmp_path, path=(tmp_path,))
    line = assert_one_line(proc, cfg, row.key, row.words)
    assert "s3cret" not in line
    assert files_in(tmp_path) == before, "no file created"
    assert sqlite_state(tmp_path / "tgt.db") == state, "the target is unchanged"


# --- MariaDB: what only a server can get wrong (grants, names) -----------------------------------------
@pytest.fixture
def server_dbs(mariadb_server, request):
    names = [f"mistake_{request.node.callspec.id}_{w}".replace("-", "_").replace(" ", "_")[:60] for w in "st"]
    for name in names:
        mariadb_server.create_database(name)
    yield names
    for name in names:
        mariadb_server.drop_database(name)


def mariadb_state(server, database: str) -> list[tuple]:
    with server.connect(database) as conn, conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        tables = sorted(r[0] for r in cur.fetchall())
        counts = []
        for t in tables:
            cur.execute(f"SELECT COUNT(*) FROM `{t}`")
            counts.append((t, cur.fetchone()[0]))
    return counts


MARIADB_ROWS = {
    "wrong password": ("target", ("Access denied",)),
    "unknown database": ("target", ("Unknown database",)),
    "unresolvable host": ("target", ("no-such-host.invalid",)),
    "user without CREATE": ("target", ("permission denied", "CREATE command denied")),
    "user without INSERT": ("target", ("permission denied", "command denied")),  # UPDATE of LOCALSEQNO first
}


@pytest.mark.parametrize("name", list(MARIADB_ROWS))
def test_mariadb_mistake_is_one_line_exit_2_and_writes_nothing(mariadb_server, server_dbs, tmp_path, name, here):
    key, words = MARIADB_ROWS[name]
    source_db, target_db = server_dbs
    factories.reset()
    src = sa.create_engine(mariadb_server.url(source_db))
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(30))
    src.dispose()
    section = {"user": "root", "database": target_db, "socket": mariadb_server.socket}
    with mariadb_server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS 'limited'@'localhost' IDENTIFIED BY 'Pw-r1ght-7'")
        cur.execute(f"GRANT SELECT ON `{source_db}`.* TO 'limited'@'localhost'")
        if name == "wrong password":
            section.update(user="limited", password="Pw-wr0ng-7")
        elif name == "unknown database":
            section["database"] = "no_such_database"
        elif name == "unresolvable host":
            section = {"user": "root", "database": target_db, "host": "no-such-host.invalid"}
        elif name == "user without CREATE":
            cur.execute(f"GRANT SELECT, INSERT ON `{target_db}`.* TO 'limited'@'localhost'")
            section.update(user="limited", password="Pw-r1ght-7")
        elif name == "user without INSERT":
            cfg = tmp_path / "root.cfg"
            write_cfg(cfg, {**BASE, "source": mariadb_server.url(source_db), "target": mariadb_server.url(target_db),
                            "maxiter": "5"})
            from scraper import commands

            scrape(commands.settings(str(cfg), SECTION))
            cfg.unlink()
            cur.execute(f"GRANT SELECT ON `{target_db}`.* TO 'limited'@'localhost'")
            section.update(user="limited", password="Pw-r1ght-7")
    (tmp_path / "my.cnf").write_text("[offline]\n" + "".join(f"{k} = {v}\n" for k, v in section.items()))
    cfg = tmp_path / "scraper.cfg"
    write_cfg(cfg, {**BASE, "source": mariadb_server.url(source_db), "target": "offline", "maxage": "1m",
                    "loglevel": "WARNING"})  # a mistake found mid-run: the log must not add lines either
    before, state = files_in(tmp_path), mariadb_state(mariadb_server, target_db)
    try:
        args = ("--cfg", str(cfg), "-s", SECTION, "--catchup", "--ALLOW_DROP_CREATE_TABLE")
        proc = scr(tmp_path, *args) if name in REAL else here(*args, cwd=tmp_path, path=(tmp_path,))
        line = assert_one_line(proc, cfg, key, words)
    finally:
        with mariadb_server.connect() as conn, conn.cursor() as cur:
            cur.execute("DROP USER IF EXISTS 'limited'@'localhost'")
    assert "Pw-r1ght-7" not in line and "Pw-wr0ng-7" not in line, "no password in any message"
    assert files_in(tmp_path) == before
    assert mariadb_state(mariadb_server, target_db) == state


@pytest.mark.parametrize("which", ["source", "target"])
def test_postgresql_unknown_database_is_one_line_exit_2(postgresql_server, tmp_path, which, here):
    """As MySQL's 1049: a database name that does not exist is a typo, not an outage to wait out."""
    name = f"mistake_pg_{which}"
    postgresql_server.create_database(name)
    try:
        factories.reset()
        src = sa.create_engine(postgresql_server.url(name))
        insert(src, create_adtemp(src), AdTempRowFactory.build_batch(10))
        src.dispose()
        urls = {"source": postgresql_server.url(name), "target": postgresql_server.url(name)}
        urls[which] = postgresql_server.url("no_such_database")
        cfg = tmp_path / "scraper.cfg"
        write_cfg(cfg, {**BASE, **urls})
        args = ("--cfg", str(cfg), "-s", SECTION, "--catchup", "--ALLOW_DROP_CREATE_TABLE")
        proc = scr(tmp_path, *args) if which in REAL else here(*args, cwd=tmp_path, path=(tmp_path,))
        assert_one_line(proc, cfg, which, ('database "no_such_database" does not exist',))
    finally:
        postgresql_server.drop_database(name)
