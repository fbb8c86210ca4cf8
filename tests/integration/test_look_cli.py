"""The look verbs as an operator meets them: bad input is one line and exit 2, a section whose mode
has nothing to look at says so, the CLI prints what the commands return, and a regime failing in a
report's replay is one line and exit 3 — never a traceback.

Most runs go through the console script's own cli.main in this process (`here`, tests/cli_here.py: the
output and the exit status are cli.main's; a process start-up adds ~0.5 s of CPU and nothing to prove);
a show, the options before the verb and the exit status 3 run the real console script."""
from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from cli_here import here  # noqa: F401 - fixture
from processes import with_modules
from scraper import commands
from support import FRAGILE_REGIME, scrape
from test_look import ADTEMP, FROM, TO, fill_adtemp, png_size, stamp

BAD = [  # (verb and arguments after -s SECTION, section, flag or key named, words in the message)
    (["show", "--from", "2011-02-01 02:00", "--to", "2011-02-01 01:00"], "s", "--from", "is after --to"),
    (["report", "--from", "2011-02-01 02:00", "--to", "2011-02-01 01:00"], "s", "--from", "is after --to"),
    (["plot", "--from", "2011-02-01 02:00", "--to", "2011-02-01 01:00", "--out", "x.png"], "s", "--from", "after"),
    (["show", "--at", "2011-02-01 01:00"], "f", "mode", "writes no validity records"),
    (["plot", "--from", "2011-01-31 16:00", "--to", "2011-01-31 17:00", "--out", "x.png"], "f", "mode", "faker"),
    (["report", "--from", "2011-01-31 16:00", "--to", "2011-01-31 17:00"], "f", "mode", "faker"),
    (["show", "--at", "2011-03-01 00:00"], "s", "--at", "no validity record at 2011-03-01 00:00:00 UTC",
     "the target covers"),
    (["show", "--from", "2010-01-01", "--to", "2010-01-02"], "s", "--from", "no validity record overlaps"),
    (["report", "--from", "2010-01-01", "--to", "2010-01-02"], "s", "--from", "no source entry between",
     "DBNS_SAB_Temp"),
    (["report", "--from", "2011-01-31 16:00", "--to", "2011-01-31 16:00"], "s", "--to", "equals --from"),
    (["plot", "--from", "2011-01-31 16:00", "--to", "2011-01-31 17:00", "--out", "nodir/x.png"], "s", "--out",
     "cannot write", "does not exist"),
    (["plot", "--from", "2011-01-31 16:00", "--to", "2011-01-31 17:00", "--out", "."], "s", "--out", "directory"),
    (["report", "--from", "2011-01-31 16:00", "--to", "2011-01-31 17:00", "--out", "nodir/r.png"], "s", "--out",
     "cannot write"),
    (["plot", "--from", "2011-01-31 16:00", "--to", "2011-01-31 17:00"], "s", "--out", "is required"),
    (["plot", "--from", "2011-01-31 16:00", "--out", "x.png"], "s", "--to", "is required"),
    (["show", "--at", "yesterday"], "s", "--at", '"yesterday" is not a time'),
    (["show", "--at", "2011-02-01 01:00", "--format", "xml"], "s", "--format", '"xml" is not a format'),
    (["report", "--from", "2011-01-31 16:00", "--to", "2011-01-31 17:00", "--format", "xml"], "s", "--format", "xml"),
    (["plot", "--from", "2011-01-31 16:00", "--to", "2011-01-31 17:00", "--out", "x.png", "--columns", "Temp_PT9"],
     "s", "--columns", "Temp_PT9 not among"),
    (["plot", "--from", "2011-01-31 16:00", "--to", "2011-01-31 17:00", "--out", "x.png", "--rows", "2-1"],
     "s", "--rows", "not a list of payload rows"),
    (["show", "--at", "2011-02-01 01:00"], "nosuch", None, "no such section"),
]


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    """One small scraped SQLite target, shared by the bad-input cases (they never write)."""
    from support import Databases

    tmp = tmp_path_factory.mktemp("look_cli")
    dbs = Databases("sqlite", tmp, f"sqlite:///{tmp / 'src.db'}", f"sqlite:///{tmp / 'tgt.db'}")
    fill_adtemp(dbs.engine("source"), n=400)
    path = dbs.write_cfg({"s": ADTEMP})
    with path.open("a") as cfg:  # a faker section has no target: it writes the source
        cfg.write(f"[f]\nregime = regimes.adtemp:AdTemp\nmode = faker\nsource = {dbs.source_url}\n")
    scrape(commands.settings(str(path), "s"))
    dbs.close()
    return path


@pytest.mark.parametrize("args,section,key,words", [(c[0], c[1], c[2], c[3:]) for c in BAD],
                         ids=[f"{c[0][0]}-{c[2] or 'section'}-{i}" for i, c in enumerate(BAD)])
def test_bad_input_is_one_line_and_exit_2(scraped, args, section, key, words, here):
    """Through cli.main in this process (here); real processes give the exit-2 line below and in
    test_look_points."""
    from test_cli_errors import one_line_error

    proc = here(args[0], "--cfg", str(scraped), "-s", section, *args[1:], cwd=scraped.parent)
    line = one_line_error(proc)
    assert line.startswith(f"{scraped} [{section}]" + (f" {key}: " if key else ": ")), line
    for word in words:
        assert word in line, line
    assert not (scraped.parent / "x.png").exists()


@pytest.mark.parametrize("verb,section,mode", [("report", "adtemp_bridge", "bridge"),
                                               ("report", "cbpm3_decimator", "decimator"),
                                               ("report", "adlid_averager", "averager"),
                                               ("show", "adtemp_faker", "faker"),
                                               ("plot", "cbpm3_faker", "faker")])
def test_sections_of_modes_without_records_to_look_at_are_one_line(verb, section, mode, tmp_path, here):
    """The shipped config's sections whose mode has nothing for the verb (report replays change rules;
    a faker writes only its source; a decimator's regime declares no target): named in one line
    before any database is opened."""
    import shutil

    from test_cli_errors import one_line_error

    shutil.copy(Path(__file__).resolve().parents[2] / "scraper.cfg", tmp_path / "scraper.cfg")
    args = ["--at", "2011-02-01 06:00"] if verb == "show" else \
        ["--from", "2011-02-01", "--to", "2011-02-02"] + (["--out", "x.png"] if verb == "plot" else [])
    line = one_line_error(here(verb, "-s", section, *args, cwd=tmp_path))
    assert line.startswith(f"scraper.cfg [{section}] mode: ") and f"mode {mode}" in line, line


def test_options_may_come_before_the_verb_and_a_key_typo_is_blamed_on_the_command_line(scraped, here):
    from test_cli_errors import one_line_error, scr

    before = scr("--cfg", str(scraped), "-s", "s", "show", "--at", "2011-01-31 17:00", cwd=scraped.parent)
    after = here("show", "--cfg", str(scraped), "-s", "s", "--at", "2011-01-31 17:00", cwd=scraped.parent)
    assert before.returncode == 0 and before.stdout == after.stdout, before.stderr
    assert before.stdout.startswith("[s] DcsAdTemp: valid at 2011-01-31 17:00:00 UTC")
    line = one_line_error(here("--cfg", str(scraped), "show", "-s", "s", "--at", "2011-02-01 01:00", "--maxgae", "1h",
                               cwd=scraped.parent))
    assert line.startswith("command line [s] --maxgae: unknown key (did you mean --maxage"), line


def test_the_cli_prints_what_the_commands_return(scraped, tmp_path, here):
    """End to end: show through the real console script, plot (the PNG read back) and report through
    its cli.main in this process (the real script draws in test_look_points)."""
    from test_cli_errors import scr

    shown = scr("show", "--cfg", str(scraped), "-s", "s", "--at", "2011-01-31 17:00", cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout.startswith("[s] DcsAdTemp: valid at 2011-01-31 17:00:00 UTC")
    out = tmp_path / "s.png"
    plotted = here("plot", "--cfg", str(scraped), "-s", "s", "--from", "2011-01-31 16:00", "--to",
                  "2011-01-31 17:00", "--out", str(out), "--columns", "Temp_PT1,Temp_PT2", cwd=tmp_path)
    assert plotted.returncode == 0, plotted.stderr
    assert plotted.stdout.startswith(f"[s] wrote {out} (1200x460 px): 2 series")
    assert png_size(out) == (1200, 460)
    rep = here("report", "--cfg", str(scraped), "-s", "s", "--from", "2011-01-31 16:00", "--to", "2011-01-31 17:00",
              "--threshold", "0.5,1", "--maxage", "10m,1h", "--out", str(tmp_path / "r.png"), cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    lines = rep.stdout.splitlines()
    assert lines[1].split()[:5] == ["threshold", "maxage", "interval", "records", "per"]
    assert len([line for line in lines if line.startswith("*")]) == 1 and len(lines) == 2 + 4 + 1
    assert png_size(tmp_path / "r.png") == (1200, 500)


def test_a_regime_failing_in_the_replay_is_one_line_exit_3(sqlite_dbs, tmp_path):
    """report runs the regime's own changed(): when that fails on an entry, the operator reads which
    method and which entry, as in a run, and nothing is written anywhere."""
    src = sqlite_dbs.engine("source")
    fill_adtemp(src, n=200)
    with src.begin() as conn:
        conn.execute(sa.text("UPDATE DBNS_SAB_Temp SET Temp_PT1 = NULL WHERE id = 120"))
    (tmp_path / "fragile.py").write_text(FRAGILE_REGIME)
    cfg = sqlite_dbs.write_cfg({"s": {**ADTEMP, "regime": "fragile:Fragile"}})
    proc = subprocess.run([sys.executable, "-m", "scraper", "report", "--cfg", str(cfg), "-s", "s", "--from",
                           stamp(FROM - timedelta(minutes=5)), "--to", stamp(TO)], capture_output=True, text=True,
                          cwd=tmp_path, env=with_modules(tmp_path), timeout=120)
    assert proc.returncode == 3, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("regime fragile:Fragile: FragileScraper.changed() failed on DBNS_SAB_Temp entry id=120 "), line
    assert not Path(sqlite_dbs.target_url.removeprefix("sqlite:///")).exists()
