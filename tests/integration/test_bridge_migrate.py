"""`scr.py migrate -s SECTION check|fix` on a file made by an older regime schema, and the operator
mistakes of mode bridge: one line naming file, section and key, exit 2, nothing written.

Most runs go through the console script's own cli.main in this process (`inside`, tests/cli_here.py: the
output and exit status are cli.main's; a process start-up adds ~0.5 s of CPU and nothing to prove); a
refused run, a pasted hint and one mistake of the config run the real console script."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from cli_here import here  # noqa: F401 - fixture
from bridge_support import BRIDGE, PT, add_rows, bridged, count, create_source, dcs_rows
from processes import with_modules
from scraper import cli



SCR = Path(sys.executable).with_name("scr.py")
TESTS = Path(__file__).resolve().parents[1]


def scr(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    env = with_modules(TESTS)  # the test regimes (bridge_regimes.py)
    return subprocess.run([str(SCR), "--cfg", str(cfg), *args], capture_output=True, text=True, timeout=60,
                          env=env, cwd=cfg.parent)


def inside(here, cfg: Path, *args: str) -> subprocess.CompletedProcess:
    """scr(cfg, *args) through cli.main in this process (the test regimes are importable here already)."""
    return here("--cfg", str(cfg), *args, cwd=cfg.parent)


def one_line(proc: subprocess.CompletedProcess, cfg: Path | str, key: str, *words: str) -> str:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"{cfg} [bridge] {key}: "), line
    for word in words:
        assert word in line, line
    return line


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def old_file(sqlite_dbs, here):
    """A bridged file made by OldTemp while DBNS_SAB_Temp had four PT columns; then the DCS added
    Temp_PT5 and the regime grew a second source (GrownTemp)."""
    src = sqlite_dbs.engine("source")
    create_source(src, columns=PT[:4])
    add_rows(src, dcs_rows(100, columns=PT[:4], seed=11))
    live = sqlite_dbs.tmp_path / "grafana" / "live.db"
    cfg = sqlite_dbs.write_cfg({"bridge": {**BRIDGE, "regime": "bridge_regimes:OldTemp", "target": f"sqlite:///{live}"}})
    assert inside(here, cfg, "-s", "bridge", "--catchup").returncode == 0
    with src.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE DBNS_SAB_Temp ADD COLUMN Temp_PT5 FLOAT")
    add_rows(src, dcs_rows(50, columns=PT, seed=12, first_id=1000, start=__import__("datetime").datetime(2011, 2, 2)))
    lid = ["CREATE TABLE AD1_LidSensor (id INTEGER PRIMARY KEY, date_time DATETIME NOT NULL, Temp_LS FLOAT, Quality INTEGER)",
           "INSERT INTO AD1_LidSensor VALUES (1, '2011-02-01 00:00:05', 19.5, 1), (2, '2011-02-01 00:00:10', 19.6, 0)"]
    with src.begin() as conn:
        for stmt in lid:
            conn.exec_driver_sql(stmt)
    cfg.write_text(cfg.read_text().replace("bridge_regimes:OldTemp", "bridge_regimes:GrownTemp"))
    return cfg, live


def test_bridge_refuses_a_file_needing_migration_and_writes_nothing(old_file):
    cfg, live = old_file
    before = digest(live)
    proc = scr(cfg, "-s", "bridge", "--catchup")
    one_line(proc, cfg, "target", "needs a migration", "migrate -s bridge")
    assert digest(live) == before


def test_the_migration_hint_pasted_back_checks_and_fixes_the_file_that_was_refused(old_file, tmp_path, here):
    """The refused run named its file with --target and its config with --cfg: the hint carries both,
    so pasting it (from any directory) checks that file, not the section's default one."""
    import re
    import shlex
    import shutil

    cfg, live = old_file
    other = cfg.parent / "old-live.db"
    shutil.copy(live, other)
    before = digest(live)
    line = one_line(inside(here, cfg, "-s", "bridge", "--target", "sqlite:///old-live.db", "--catchup"), "command line",
                    "--target", "needs a migration")
    hinted = shlex.split(re.search(r"run (scr\.py .*), then fix$", line)[1])
    assert hinted == ["scr.py", "migrate", "-s", "bridge", "--cfg", str(cfg), "--target", "sqlite:///old-live.db",
                      "check"]
    run = dict(capture_output=True, text=True, timeout=60, env=with_modules(TESTS), cwd=tmp_path)
    check = subprocess.run([str(SCR), *hinted[1:]], **run)
    assert check.returncode == 1 and check.stdout.startswith(f"{other} [bridge]: 2 change(s) needed"), check.stdout
    fix_hint = shlex.split(re.search(r"needed \((scr\.py .*)\):", check.stdout)[1])
    assert fix_hint == hinted[:-1] + ["fix"]
    fixed = here(*fix_hint[1:], cwd=tmp_path)
    assert fixed.returncode == 0 and "2 change(s) applied" in fixed.stdout, fixed.stderr
    assert digest(live) == before, "the default file is left alone"
    assert "up to date" in here(*hinted[1:], cwd=tmp_path).stdout


def test_check_lists_the_differences_and_fix_applies_them_then_the_bridge_continues_without_gap(old_file, here):
    cfg, live = old_file
    check = inside(here, cfg, "migrate", "-s", "bridge", "check")
    assert check.returncode == 1, check.stderr
    assert "DBNS_SAB_Temp: add column Temp_PT5 FLOAT" in check.stdout
    assert "AD1_LidSensor: create table (time INTEGER, Temp_LS FLOAT, Quality INTEGER)" in check.stdout
    assert count(live) == 100, "check writes nothing"
    fix = inside(here, cfg, "migrate", "-s", "bridge", "fix")
    assert fix.returncode == 0, fix.stderr
    assert "2 change(s) applied" in fix.stdout
    again = inside(here, cfg, "migrate", "-s", "bridge", "check")
    assert again.returncode == 0 and "up to date" in again.stdout
    run = inside(here, cfg, "-s", "bridge", "--catchup")
    assert run.returncode == 0, run.stderr
    rows = bridged(live)
    assert len(rows) == 150
    assert all(r[5] is None for r in rows[:100]) and all(r[5] is not None for r in rows[100:])
    assert bridged(live, "AD1_LidSensor") == [(1296518405, 19.5, 1), (1296518410, 19.6, 0)]  # source_tz UTC


def test_fix_refuses_a_state_it_cannot_explain(old_file, here):
    cfg, live = old_file
    import sqlite3

    con = sqlite3.connect(live)
    con.execute('ALTER TABLE DBNS_SAB_Temp ADD COLUMN "Temp_PT9" FLOAT')  # no layout has it
    con.commit()
    con.close()
    before = digest(live)
    check = inside(here, cfg, "migrate", "-s", "bridge", "check")
    assert check.returncode == 1 and "DBNS_SAB_Temp.Temp_PT9: in the file but not in the layout" in check.stdout
    one_line(inside(here, cfg, "migrate", "-s", "bridge", "fix"), cfg, "target", "refusing to migrate", "Temp_PT9")
    assert digest(live) == before


def test_fix_on_a_current_file_changes_nothing(sqlite_dbs, here):
    src = sqlite_dbs.engine("source")
    create_source(src)
    add_rows(src, dcs_rows(10))
    live = sqlite_dbs.tmp_path / "live.db"
    cfg = sqlite_dbs.write_cfg({"bridge": {**BRIDGE, "target": f"sqlite:///{live}"}})
    assert inside(here, cfg, "-s", "bridge", "--catchup").returncode == 0
    before = digest(live)
    fix = inside(here, cfg, "migrate", "-s", "bridge", "fix")
    assert fix.returncode == 0 and "up to date" in fix.stdout
    assert digest(live) == before


@pytest.mark.parametrize("target, key, words", [
    ("mysql+pymysql://u@localhost/db", "target", ("is not SQLite",)),
    ("offline_db", "target", ("writes a SQLite file",)),
    ("sqlite:///grafana/grafana.db", "target", ("Grafana's own database",)),
])
def test_operator_mistakes_are_one_line_and_write_nothing(sqlite_dbs, target, key, words, here):
    src = sqlite_dbs.engine("source")
    create_source(src)
    add_rows(src, dcs_rows(3))
    cfg = sqlite_dbs.write_cfg({"bridge": {**BRIDGE, "target": target}})
    proc = scr(cfg, "-s", "bridge", "--catchup") if key == "target" and "is not SQLite" in words[0] else \
        inside(here, cfg, "-s", "bridge", "--catchup")  # one real process
    one_line(proc, cfg, key, *words)
    assert not (cfg.parent / "grafana").exists()


def test_unknown_group_is_one_line_and_writes_nothing(sqlite_dbs, here):
    src = sqlite_dbs.engine("source")
    create_source(src)
    cfg = sqlite_dbs.write_cfg({"bridge": {**BRIDGE, "target": "sqlite:///grafana/live.db", "group": "no-such-group"}})
    one_line(inside(here, cfg, "-s", "bridge"), cfg, "group", "no-such-group", "does not exist")
    assert not (cfg.parent / "grafana").exists()


def test_directory_not_writable_for_the_wal_is_one_line_and_writes_nothing(sqlite_dbs, here):
    src = sqlite_dbs.engine("source")
    create_source(src)
    locked = sqlite_dbs.tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        cfg = sqlite_dbs.write_cfg({"bridge": {**BRIDGE, "target": f"sqlite:///{locked / 'live.db'}"}})
        one_line(inside(here, cfg, "-s", "bridge"), cfg, "target", "not writable", "live.db-wal")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_verbs_without_their_operand_are_one_line(sqlite_dbs, capsys):
    cfg = sqlite_dbs.write_cfg({"bridge": {**BRIDGE}})
    assert cli.main(["--cfg", str(cfg), "migrate", "-s", "bridge"]) == 2
    assert cli.main(["--cfg", str(cfg), "migrate", "-s", "bridge", "repair"]) == 2
    assert cli.main(["--cfg", str(cfg), "backup"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "check|fix" in err[0] and "repair" in err[1] and "SECTION" in err[2]
