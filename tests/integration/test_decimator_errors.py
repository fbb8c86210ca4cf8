"""Operator mistakes of a decimator section, through the CLI: one line naming file, section and key, exit
status 2, no traceback, and not one row deleted.

Through the console script's own cli.main in this process (tests/cli_here.py: the line and the exit
status are cli.main's, a process start-up adds ~0.5 s of CPU and nothing to prove); one case of each
family (a value on the command line, the state of the database) as the real CLI in a subprocess."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import pytest
import sqlalchemy as sa

import decimation as d
from cli_here import here  # noqa: F401 - fixture
from dcs_writers import ddl



T0 = datetime(2020, 11, 4, 9, 3, 1)
SECTION = "cbpm3_decimator"

CASES = [  # (id, extra CLI args, setup, key named, words in the message)
    ("keep-shorter-than-every", ["--keep", "30s", "--every", "1m"], None, "--keep", "shorter than every = 1m"),
    ("every-not-dividing-a-day", ["--every", "7m"], None, "--every", "does not divide one day"),
    ("every-not-whole-seconds", ["--every", "1.5s"], None, "--every", "not a whole number of seconds"),
    ("bad-keep-rule", ["--keep_rule", "middle"], None, "--keep_rule", "is not one of first, last"),
    ("unknown-group-column", ["--group_column", "instrument"], None, "--group_column", 'no column "instrument"'),
    ("rollup-with-another-schema", [], "rollup", "rollup", "exists with another schema"),
    ("source-without-the-time-column", [], "no_time", "source", 'no time column "timestamp"'),
    ("every-changed-after-thinning", ["--every", "30s", "--keep", "1m"], "thinned", "--every", "would mix slice widths"),
    ("rollup-missing-without-create", ["--rollup", "cbpm3_rollup"], None, "--rollup", "--ALLOW_DROP_CREATE_TABLE"),
]


REAL = {"keep-shorter-than-every", "rollup-with-another-schema"}  # on SQLite: a real `python -m scraper`


def _setup(kind: str | None, src: sa.Engine) -> None:
    name = src.dialect.name
    if kind == "no_time":
        with src.begin() as conn:
            for stmt in ddl(name, "cbpm3_data", {"id": "id", "ts": "time", "instr": "text", "top_in": "int"}):
                conn.exec_driver_sql(stmt)
            conn.exec_driver_sql("INSERT INTO cbpm3_data VALUES (1, '2020-11-04 09:03:01', '10AE', 0)")
        return
    d.create_table(src)
    d.insert(src, d.ten_hz(T0, 60))
    if kind == "rollup":
        with src.begin() as conn:
            for stmt in ddl(name, "cbpm3_rollup", {"slice_utc": "time", "instr": "text", "n": "int"}):
                conn.exec_driver_sql(stmt)
    if kind == "thinned":  # thinned once with every = 10s (keep 10s): the table's history
        with src.begin() as conn:
            for stmt in ddl(name, "decimator_cursor", {"tablename": "text", "thinned_until_utc": "time",
                                                       "watermark": "int", "every_s": "int", "keep_rule": "text",
                                                       "updated_utc": "time"}):
                conn.exec_driver_sql(stmt)
            conn.exec_driver_sql("INSERT INTO decimator_cursor VALUES ('cbpm3_data', '2020-11-04 09:03:30', "
                                 "0, 10, 'first', '2026-01-01 00:00:00')")


def _count(src: sa.Engine) -> int:
    with src.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM cbpm3_data")).scalar()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_operator_mistake_is_one_line_naming_file_section_key_exit_2_nothing_deleted(dbs, case, here):
    _id, args, setup, key, words = case
    src = dbs.engine("source")
    _setup(setup, src)
    before = _count(src)
    cfg = dbs.write_cfg({SECTION: {"regime": "regimes.cbpm3:Cbpm3", "mode": "decimator", "keep": "10s",
                                   "every": "10s", "source_tz": "UTC",
                                   **({"rollup": "cbpm3_rollup"} if setup == "rollup" else {})}})
    argv = ["--cfg", str(cfg), "-s", SECTION, "--catchup", *args]
    if _id in REAL and dbs.backend == "sqlite":
        proc = subprocess.run([sys.executable, "-m", "scraper", *argv], capture_output=True, text=True,
                              timeout=120)
    else:
        proc = here(*argv, cwd=cfg.parent)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    # a value typed after scr.py that does not parse is blamed there (the case names its key --KEY)
    named = f"command line [{SECTION}] {key}: " if key.startswith("--") else f"{cfg} [{SECTION}] {key}: "
    assert lines[0].startswith(named), lines[0]
    assert words in lines[0], lines[0]
    assert proc.stdout == ""
    assert _count(src) == before
