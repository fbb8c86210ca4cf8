"""Operator mistakes end `scr.py` with ONE line naming file, section and key, exit status 2, no traceback.

Most cases run the console script's own cli.main in this process (`here`, tests/cli_here.py: the line
and the exit status are cli.main's, a process start-up adds ~0.5 s of CPU and nothing to prove); at
least one case of each family of mistakes, and every case about the process itself (the environment,
the console script's import path, --help's exit status), runs the real console script in a subprocess,
exactly as an operator (or supervisord) would.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy

import factories
from cli_here import here  # noqa: F401 - fixture
from factories import AdTempRowFactory, create_adtemp, insert

ADTEMP = "regime = regimes.adtemp:AdTemp\n"
SCR = Path(sys.executable).with_name("scr.py")


def scr(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [str(SCR)] if SCR.exists() else [sys.executable, "-m", "scraper"]
    full_env = {k: v for k, v in os.environ.items() if k not in ("SCRAPER_CFG", "SCRAPER_MYCNF")}
    full_env.update({"HOME": str(cwd), "SCRAPER_MYCNF": str(cwd / "my.cnf"), **(env or {})})
    return subprocess.run([*command, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=60)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def assert_names(line: str, cfg: Path | str, section: str, key: str, *words: str) -> None:
    assert line.startswith(f"{cfg} [{section}] {key}: "), line
    for word in words:
        assert word in line, line


@pytest.fixture
def cfgfile(tmp_path):
    """Write scraper.cfg; `source`/`target` default to SQLite files that exist (empty)."""
    for name in ("src.db", "tgt.db"):
        sqlite3.connect(tmp_path / name).close()

    def write(body: str, shared: str = "") -> Path:
        path = tmp_path / "scraper.cfg"
        path.write_text(f"[DEFAULT]\n{shared}\n[other]\n{ADTEMP}source = sqlite:///src.db\n\n{body}")
        return path

    return write


def section(name: str, *lines: str, source: str = "sqlite:///src.db", target: str = "sqlite:///tgt.db") -> str:
    keys = {"regime": "regimes.adtemp:AdTemp", "source": source, "target": target}
    body = [f"[{name}]"] + [f"{k} = {v}" for k, v in keys.items() if not any(l.startswith(k + " ") for l in lines)]
    return "\n".join(body + list(lines)) + "\n"


def test_unknown_section_lists_the_sections_there_are(cfgfile, tmp_path):
    cfg = cfgfile(section("adtemp_scraper"))
    line = one_line_error(scr("--cfg", str(cfg), "-s", "adtemp_scrapper", cwd=tmp_path))
    assert line.startswith(f"{cfg} [adtemp_scrapper]: no such section"), line
    assert "other, adtemp_scraper" in line


@pytest.mark.parametrize("where", ["section", "DEFAULT"])
def test_unknown_key_in_the_file(cfgfile, tmp_path, where, here):
    if where == "section":
        cfg = cfgfile(section("s", "maxagee = 5m"))
    else:
        cfg = cfgfile(section("s"), shared="maxagee = 5m\n")
    line = one_line_error((scr if where == "section" else here)("--cfg", str(cfg), "-s", "s", cwd=tmp_path))
    assert_names(line, cfg, "s" if where == "section" else "DEFAULT", "maxagee", "unknown key")


def test_unknown_key_on_the_command_line(cfgfile, tmp_path):
    cfg = cfgfile(section("s"))
    line = one_line_error(scr("--cfg", str(cfg), "-s", "s", "--bogus", "3", cwd=tmp_path))
    assert line == "command line [s] --bogus: unknown key (see scr.py -s s --help)"


def test_a_key_typo_on_the_command_line_is_blamed_there_with_the_key_meant(cfgfile, tmp_path, here):
    """The operator typed it after scr.py: naming scraper.cfg would send them to a file without it."""
    cfg = cfgfile(section("adtemp_scraper"))
    line = one_line_error(here("-s", "adtemp_scraper", "--maxgae", "5m", cwd=tmp_path))
    assert line.startswith("command line [adtemp_scraper] --maxgae: unknown key (did you mean --maxage"), line
    assert str(cfg.name) not in line
    # a key of another mode is as much a command-line mistake
    line = one_line_error(here("-s", "adtemp_scraper", "--keep", "5m", cwd=tmp_path))
    assert line.startswith("command line [adtemp_scraper] --keep: is not used by mode scraper"), line
    # a mistyped flag is suggested as the flag
    line = one_line_error(here("-s", "adtemp_scraper", "--cathcup", cwd=tmp_path))
    assert line == "scr.py: unknown option --cathcup (did you mean --catchup? see scr.py --help)"
    line = one_line_error(here("show", "-s", "adtemp_scraper", "--att", "2011-02-01", cwd=tmp_path))
    assert line == "scr.py show: unknown option --att (did you mean --at? see scr.py show --help)"


@pytest.mark.parametrize("args, problem", [
    (["-s", "adtemp_scraper", "--maxage", "10x"], '--maxage: "10x" is not a duration'),
    (["-s", "adtemp_scraper", "--batch", "0"], "--batch: 0 is below the minimum 1"),
    (["-s", "cbpm3_decimator", "--keep=forever"], '--keep: "forever" is not a duration'),
    (["-s", "adlid_averager", "--time_view", "perhaps"], '--time_view: "perhaps" is not a boolean'),
    (["-s", "ztf_stream", "--batch", "many"], '--batch: "many" is not an integer'),
    (["-s", "processing_loader", "--mode", "loger"], '--mode: "loger" is not a mode (did you mean logger?'),
    (["report", "-s", "adtemp_scraper", "--from", "2011-01-31", "--to", "2011-02-01", "--maxage", "10x"],
     '--maxage: "10x" is not a duration'),
    (["report", "-s", "adtemp_scraper", "--from", "2011-01-31", "--to", "2011-02-01", "--threshold", "0.5,abc"],
     '--threshold: "abc" is not a number'),
], ids=["scraper-duration", "scraper-minimum", "decimator-duration", "averager-boolean", "stream-integer",
        "logger-mode", "report-duration", "report-number"])
def test_a_bad_value_on_the_command_line_is_blamed_there(tmp_path, args, problem, here):
    """A valid key with a value that does not parse, typed after scr.py, in the shipped config's sections
    of several modes: the operator fixes the command, so the line names --KEY, not scraper.cfg's key."""
    shutil.copy(Path(__file__).resolve().parents[2] / "scraper.cfg", tmp_path / "scraper.cfg")
    section = args[args.index("-s") + 1]
    line = one_line_error(here(*args, cwd=tmp_path))
    assert line.startswith(f"command line [{section}] {problem}"), line
    assert "scraper.cfg" not in line


def test_a_bad_value_in_the_file_is_still_blamed_on_the_file(cfgfile, tmp_path, here):
    """Beside a good override of the same key: the file's value is parsed first and named as the file's."""
    cfg = cfgfile(section("s", "maxage = 10x"))
    line = one_line_error(here("--cfg", str(cfg), "-s", "s", "--maxage", "5m", cwd=tmp_path))
    assert line.startswith(f'{cfg} [s] maxage: "10x" is not a duration'), line


@pytest.mark.parametrize("where", ["section", "DEFAULT"])
def test_a_key_typo_in_the_file_suggests_the_key_meant(cfgfile, tmp_path, where, here):
    if where == "section":
        cfg = cfgfile(section("s", "treshold = 0.5"))
    else:
        cfg = cfgfile(section("s"), shared="exit_sentinal = var/stop\n")
    line = one_line_error(here("--cfg", str(cfg), "-s", "s", cwd=tmp_path))
    key, meant = ("treshold", "threshold") if where == "section" else ("exit_sentinal", "exit_sentinel")
    assert line == f"{cfg} [{'s' if where == 'section' else 'DEFAULT'}] {key}: unknown key " \
                   f"(did you mean {meant}? see docs/config.md)"


def test_a_section_or_verb_typo_suggests_the_one_meant(cfgfile, tmp_path, here):
    cfg = cfgfile(section("adtemp_scraper"))
    line = one_line_error(here("--cfg", str(cfg), "-s", "adtemp_scrapr", cwd=tmp_path))
    assert line == (f"{cfg} [adtemp_scrapr]: no such section (did you mean adtemp_scraper? "
                    "sections: other, adtemp_scraper)")
    line = one_line_error(here("--cfg", str(cfg), "shwo", "-s", "adtemp_scraper", cwd=tmp_path))
    assert line == "scr.py: unrecognized argument shwo (did you mean show? see scr.py --help)"


def test_a_new_sqlite_target_file_hints_the_flag_that_creates_it(sqlite_dbs, here):
    """A first run against a new file: the line says how to create it, not only that it is missing."""
    dbs = sqlite_dbs
    src = dbs.engine("source")
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(20))
    cfg = dbs.write_cfg({"adtemp_scraper": {"regime": "regimes.adtemp:AdTemp", "timefloor": "2011-02-01 00:00:00"}})
    args = ("--cfg", str(cfg), "-s", "adtemp_scraper", "--target", "sqlite:///var/new.db", "--catchup")
    line = one_line_error(here(*args, cwd=dbs.tmp_path))
    assert_names(line, "command line", "adtemp_scraper", "--target", f"{dbs.tmp_path}/var/new.db does not exist",
                 "add --ALLOW_DROP_CREATE_TABLE to create it")
    assert not (dbs.tmp_path / "var" / "new.db").exists()
    ok = here(*args, "--ALLOW_DROP_CREATE_TABLE", cwd=dbs.tmp_path)
    assert ok.returncode == 0 and "entries read 20" in ok.stdout, ok.stderr


def test_global_options_may_come_before_the_verb(cfgfile, tmp_path, here):
    """As with git and alembic: `scr.py --cfg FILE VERB ...` is `scr.py VERB --cfg FILE ...`."""
    cfg = cfgfile(section("adtemp_scraper"))
    before = scr("--cfg", str(cfg), "show", "-s", "adtemp_scrapr", "--at", "2011-02-01", cwd=tmp_path.parent)
    after = here("show", "--cfg", str(cfg), "-s", "adtemp_scrapr", "--at", "2011-02-01", cwd=tmp_path.parent)
    assert one_line_error(before) == one_line_error(after)
    assert one_line_error(before).startswith(f"{cfg} [adtemp_scrapr]: no such section")
    migrate = here("--cfg", str(cfg), "-s", "adtemp_scrapr", "migrate", "check", cwd=tmp_path.parent)
    assert one_line_error(migrate).startswith(f"{cfg} [adtemp_scrapr]: no such section")
    status = here("--cfg", str(cfg), "status", cwd=tmp_path.parent)
    assert status.stdout.startswith("SECTION") and "adtemp_scraper" in status.stdout, status.stderr
    helped = here("--cfg", str(cfg), "show", "--help", cwd=tmp_path.parent)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: scr.py show -s SECTION")


def test_help_is_short_and_points_to_the_keys(cfgfile, tmp_path):
    """scr.py --help lists the verbs and the options every run has; the keys live in a section's own
    --help (with values and defaults) and in docs/config.md."""
    cfg = cfgfile(section("adtemp_scraper"))
    proc = scr("--cfg", str(cfg), "--help", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert len(lines) < 45 and max(len(line) for line in lines[:-1]) <= 100
    verbs = [line.split()[0] for line in proc.stdout.split("verbs:\n", 1)[1].split("\n\n")[0].splitlines()]
    assert verbs == ["-s", "status", "show", "plot", "report", "backup", "migrate", "reconcile", "new-regime", "-S"]
    assert "scr.py -s SECTION --help" in proc.stdout and "docs/config.md" in proc.stdout
    assert "--heartbeat" not in proc.stdout and "--aggregate_filter" not in proc.stdout
    assert lines[-1] == "sections in scraper.cfg: other, adtemp_scraper".replace("scraper.cfg", str(cfg))


@pytest.mark.parametrize("where", ["section", "DEFAULT", "command line"])
def test_the_old_name_of_a_renamed_key_says_the_new_one(cfgfile, tmp_path, where, here):
    """An operator's config written for the previous release: one line naming the key to use instead."""
    extra = []
    if where == "section":
        cfg = cfgfile(section("s", "use_changed_sql = False"))
    elif where == "DEFAULT":
        cfg = cfgfile(section("s"), shared="use_changed_sql = False\n")
    else:
        cfg, extra = cfgfile(section("s")), ["--use_changed_sql", "False"]
    line = one_line_error(here("--cfg", str(cfg), "-s", "s", *extra, cwd=tmp_path))
    if where == "command line":
        assert line == "command line [s] --use_changed_sql: was renamed: use --skip_in_database False"
        return
    assert_names(line, cfg, "DEFAULT" if where == "DEFAULT" else "s", "use_changed_sql",
                 "renamed", "skip_in_database = False")


@pytest.mark.parametrize("in_file, on_cli, shown", [
    ("maxage = 5 parsecs", [], '"5 parsecs" is not a duration'),
    ("", ["--maxage", "x"], '"x" is not a duration'),
    ("interval = -10s", [], "is not a duration"),
])
def test_bad_duration(cfgfile, tmp_path, in_file, on_cli, shown, here):
    cfg = cfgfile(section("s", in_file))
    line = one_line_error(here("--cfg", str(cfg), "-s", "s", *on_cli, cwd=tmp_path))
    if on_cli:  # typed after scr.py: named as typed, the file does not hold it
        assert line.startswith("command line [s] --maxage: ") and shown in line and "10s" in line, line
        return
    assert_names(line, cfg, "s", "maxage" if "maxage" in in_file else "interval", shown, "10s")


@pytest.mark.parametrize("in_file, on_cli", [("timefloor = 2011-02-30 00:00:00", []),
                                             ("", ["--timefloor", "yesterday"])])
def test_bad_time_string(cfgfile, tmp_path, in_file, on_cli, here):
    cfg = cfgfile(section("s", in_file))
    line = one_line_error(here("--cfg", str(cfg), "-s", "s", *on_cli, cwd=tmp_path))
    if on_cli:
        assert line.startswith("command line [s] --timefloor: ") and "is not a time" in line, line
        return
    assert_names(line, cfg, "s", "timefloor", "is not a time", "2011-02-01 00:00:00")


def test_bad_source_tz(cfgfile, tmp_path, here):
    cfg = cfgfile(section("s", "source_tz = Europe/Zürich"))
    line = one_line_error(here("--cfg", str(cfg), "-s", "s", cwd=tmp_path))
    assert_names(line, cfg, "s", "source_tz", "IANA")


@pytest.mark.parametrize("regime, words", [
    ("regimes.adtmp:AdTemp", ['cannot import "regimes.adtmp"']),
    ("regimes.adtemp:AdTmp", ['"AdTmp" in regimes.adtemp']),
    ("regimes.adtemp", ["package.module:RegimeClass"]),
])
def test_unimportable_regime(cfgfile, tmp_path, regime, words, here):
    cfg = cfgfile(section("s", f"regime = {regime}"))
    run = scr if regime == "regimes.adtmp:AdTemp" else here  # one real process: the console script's import path
    line = one_line_error(run("--cfg", str(cfg), "-s", "s", "--catchup", cwd=tmp_path))
    assert_names(line, cfg, "s", "regime", *words)


@pytest.mark.parametrize("key", ["source", "target"])
def test_sqlite_file_in_a_missing_directory(cfgfile, tmp_path, key, here):
    cfg = cfgfile(section("s", **{key: "sqlite:///no/such/dir/dcs.db"}))
    line = one_line_error((scr if key == "target" else here)("--cfg", str(cfg), "-s", "s", "--catchup", cwd=tmp_path))
    assert_names(line, cfg, "s", key, f"{tmp_path}/no/such/dir/dcs.db", "does not exist")


def test_missing_my_cnf_section(cfgfile, tmp_path, here):
    (tmp_path / "my.cnf").write_text("[offline_db]\nuser = dayabay\nhost = localhost\n")
    cfg = cfgfile(section("s", source="dcs_reader"))
    line = one_line_error(here("--cfg", str(cfg), "-s", "s", "--catchup", cwd=tmp_path))
    assert_names(line, cfg, "s", "source", '"dcs_reader"', f"section of {tmp_path}/my.cnf")


def test_missing_my_cnf_file(cfgfile, tmp_path):
    cfg = cfgfile(section("s", target="tmp_offline_db"))
    line = one_line_error(scr("--cfg", str(cfg), "-s", "s", "--catchup", cwd=tmp_path))
    assert_names(line, cfg, "s", "target", '"tmp_offline_db"', "file missing")


def test_unreadable_my_cnf(cfgfile, tmp_path, here):
    (tmp_path / "my.cnf").write_text("user = dayabay\n[client\n")
    cfg = cfgfile(section("s", source="dcs_reader"))
    line = one_line_error(here("--cfg", str(cfg), "-s", "s", "--catchup", cwd=tmp_path))
    assert_names(line, cfg, "s", "source", "cannot read")


@pytest.mark.parametrize("how", ["--cfg", "SCRAPER_CFG", "./scraper.cfg"])
def test_config_file_that_does_not_exist(tmp_path, how, here):
    missing = tmp_path / "etc" / "scraper.cfg"
    args, env = ["-s", "s"], {}
    if how == "--cfg":
        args += ["--cfg", str(missing)]
    elif how == "SCRAPER_CFG":
        env["SCRAPER_CFG"] = str(missing)
    line = one_line_error((here if how == "--cfg" else scr)(*args, cwd=tmp_path, env=env))
    shown = "scraper.cfg" if how == "./scraper.cfg" else str(missing)
    assert line == f"{shown}: config file not found (use --cfg PATH or set SCRAPER_CFG)"


def test_missing_source_table(dbs, here):
    dbs.engine("source").connect().close()  # the database (SQLite file) exists, the table does not
    cfg = dbs.write_cfg({"s": {"regime": "regimes.adtemp:AdTemp"}})
    run = scr if dbs.backend == "sqlite" else here  # one real process
    line = one_line_error(run("--cfg", str(cfg), "-s", "s", "--catchup", "--ALLOW_DROP_CREATE_TABLE", cwd=dbs.tmp_path))
    assert_names(line, cfg, "s", "source", 'table "DBNS_SAB_Temp" not found')


def test_missing_target_tables_need_the_explicit_flag(dbs, here):
    src = dbs.engine("source")
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(20))
    dbs.engine("target").connect().close()  # the database (SQLite file) exists, its tables do not
    cfg = dbs.write_cfg({"s": {"regime": "regimes.adtemp:AdTemp", "timefloor": "2011-02-01 00:00:00"}})
    line = one_line_error(here("--cfg", str(cfg), "-s", "s", "--catchup", cwd=dbs.tmp_path))
    assert_names(line, cfg, "s", "target", "DcsAdTemp, DcsAdTempVld, LOCALSEQNO", "--ALLOW_DROP_CREATE_TABLE")
    ok = here("--cfg", str(cfg), "-s", "s", "--catchup", "--ALLOW_DROP_CREATE_TABLE", cwd=dbs.tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "entries read 20, propagations written" in ok.stdout


def test_a_my_cnf_section_reaches_a_real_mariadb(mariadb_server, tmp_path):
    """The contrast to the error cases: a correct my.cnf section is all a target needs, no password
    or socket in scraper.cfg."""
    mariadb_server.create_database("cli_mycnf_target")
    factories.reset()
    try:
        src = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
        insert(src, create_adtemp(src), AdTempRowFactory.build_batch(20))
        src.dispose()
        (tmp_path / "my.cnf").write_text(
            "!includedir /etc/mysql/conf.d/\n[tmp_offline_db]\nuser = root\n"
            f"database = cli_mycnf_target\nsocket = {mariadb_server.socket}\n")
        (tmp_path / "scraper.cfg").write_text(
            "[s]\nregime = regimes.adtemp:AdTemp\nsource = sqlite:///src.db\ntarget = tmp_offline_db\n"
            "timefloor = 2011-02-01 00:00:00\nmaxage = 1m\n")
        ok = scr("-s", "s", "--catchup", "--ALLOW_DROP_CREATE_TABLE", cwd=tmp_path)
        assert ok.returncode == 0, ok.stderr
        assert "entries read 20" in ok.stdout
        with mariadb_server.connect("cli_mycnf_target") as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM DcsAdTempVld")
            assert cur.fetchone()[0] >= 1
    finally:
        mariadb_server.drop_database("cli_mycnf_target")


def test_help_prints_effective_settings_with_defaults_and_provenance(cfgfile, tmp_path):
    cfg = cfgfile(section("adtemp_scraper", "maxage = 7m", "threshold = 0.5"),
                  shared="source_tz = Asia/Shanghai\nthreshold = 2.0\n")
    proc = scr("-s", "adtemp_scraper", "--maxage", "3m", "--help", cwd=tmp_path,
               env={"SCRAPER_CFG": str(cfg)})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"# effective settings of [adtemp_scraper] (mode scraper) from {cfg}"
    rows = {line.split()[0]: line for line in lines[2:]}
    assert rows["maxage"].split() == ["maxage", "3m", "10m", "command", "line"]
    assert rows["threshold"].split() == ["threshold", "0.5", "1.0", "[adtemp_scraper]"]
    assert rows["source_tz"].split() == ["source_tz", "Asia/Shanghai", "UTC", "[DEFAULT]"]
    assert rows["interval"].split() == ["interval", "10s", "10s", "default"]
    assert rows["regime"].split() == ["regime", "regimes.adtemp:AdTemp", "[adtemp_scraper]"]


@pytest.mark.parametrize("text, words", [
    ("[s]\nregime = a\nregime = b\n", "cannot parse: Duplicate keyword name at line 3"),
    ('[s]\nregime = "regimes.adtemp:AdTemp\n', "cannot parse: Parse error in value at line 2"),
    (None, "is a directory, not a config file"),
])
def test_config_file_that_cannot_be_read(tmp_path, text, words, here):
    path = tmp_path / "scraper.cfg"
    if text is None:
        path.mkdir()
    else:
        path.write_text(text)
    line = one_line_error(here("--cfg", str(path), "-s", "s", cwd=tmp_path))
    assert line.startswith(f"{path}: {words}"), line


def test_the_shared_section_is_not_runnable(cfgfile, tmp_path, here):
    cfg = cfgfile(section("adtemp_scraper"))
    line = one_line_error(here("--cfg", str(cfg), "-s", "DEFAULT", cwd=tmp_path))
    assert line == f"{cfg} [DEFAULT]: holds keys shared by every section; run one of: other, adtemp_scraper"


ADLID = ("regime = regimes.adlid:AdLid",)


@pytest.mark.parametrize("lines, key, words", [
    (ADLID + ("aggregate = ",), "aggregate", ("reads avg,min,max,std", "aggregate = none")),
    (ADLID + ("aggregate = avg,min",), "aggregate", ("missing max,std",)),
    (("mode = averager", "aggregate = avg"), "regime", ("cannot run as an averager",)),
    (("mode = averager", "aggregate = avg", "territory = 90m"), "territory", ("not a multiple of bin",)),
    (("interval = 0",), "interval", ("not a positive duration",)),
    (("profile = sine",), "profile", ("not used by mode scraper", "faker")),
])
def test_regime_and_config_must_agree_before_any_database_is_touched(cfgfile, tmp_path, lines, key, words, here):
    run = scr if key == "aggregate" and words[0].startswith("reads") else here  # one real process
    cfg = cfgfile(section("s", *lines, source="sqlite:///missing_src.db", target="sqlite:///missing_tgt.db"))
    line = one_line_error(run("--cfg", str(cfg), "-s", "s", "--catchup", cwd=tmp_path))
    assert_names(line, cfg, "s", key, *words)
    assert not (tmp_path / "missing_src.db").exists() and not (tmp_path / "missing_tgt.db").exists()
    # -S runs the same checks and writes no program file for the section
    line = one_line_error(run("--cfg", str(cfg), "-S", str(tmp_path / "prog.ini"), "-s", "s", cwd=tmp_path))
    assert_names(line, cfg, "s", key, *words)
    assert not (tmp_path / "prog.ini").exists()


def test_a_value_starting_with_a_dash_is_reported_on_its_key(cfgfile, tmp_path, here):
    cfg = cfgfile(section("s"))
    line = one_line_error(here("--cfg", str(cfg), "-s", "s", "--interval", "-10s", cwd=tmp_path))
    assert line.startswith('command line [s] --interval: "-10s" is not a duration'), line
