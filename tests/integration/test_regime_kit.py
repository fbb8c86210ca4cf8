"""The regime test kit and `scr.py new-regime`, used as a physicist would: generate, run pytest."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

from processes import with_modules
from regimes.adtemp import PT, AdTemp
from scraper.testing import RegimeChecks, load_source, scrape, target


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = with_modules(cwd)
    env.pop("SCRAPER_CFG", None)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_new_regime_passes_the_kit_before_any_edit(tmp_path):
    """That the generated faker and scraper sections run (fake, then scrape with propagations) is
    test_the_documented_flow_works_with_the_console_script_and_no_pythonpath's, with scr.py."""
    made = run([sys.executable, "-m", "scraper", "new-regime", "gasflow"], tmp_path)
    assert made.returncode == 0, made.stderr
    assert made.stdout.split() == ["wrote", "gasflow.py", "wrote", "gasflow.cfg", "wrote", "test_gasflow.py"]
    again = run([sys.executable, "-m", "scraper", "new-regime", "gasflow"], tmp_path)
    assert again.returncode == 2 and "nothing written" in again.stderr and "Traceback" not in again.stderr
    tested = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_gasflow.py"], tmp_path)
    assert tested.returncode == 0, tested.stdout[-3000:]
    assert "3 passed" in tested.stdout


STATEFUL = '''
    from datetime import datetime, timedelta

    from gasflow import COLUMNS, Gasflow, GasflowScraper
    from scraper.testing import RegimeChecks


    class CountingScraper(GasflowScraper):
        """Propagates every 7th entry it is shown: state kept between calls, which a restart loses."""
        change = None
        seen = 0

        def changed(self, sv):
            type(self).seen += 1
            return self.seen % 7 == 0


    class Counting(Gasflow):
        scraper = CountingScraper


    class TestCounting(RegimeChecks):
        regime = Counting
        keys = {"interval": "10s", "maxage": "1h", "threshold": 0.5}

        def rows(self):
            start = datetime(2011, 2, 1)
            return {"DBNS_Gasflow": [{"id": i + 1, "date_time": start + timedelta(seconds=10 * i),
                                      **{c: float(i % 3) for c in COLUMNS}} for i in range(200)]}
'''


def test_the_kit_catches_a_change_test_that_keeps_state_between_calls(tmp_path):
    assert run([sys.executable, "-m", "scraper", "new-regime", "gasflow"], tmp_path).returncode == 0
    (tmp_path / "test_gasflow.py").unlink()
    (tmp_path / "test_counting.py").write_text(textwrap.dedent(STATEFUL))
    tested = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_counting.py"], tmp_path)
    assert tested.returncode == 1, tested.stdout[-3000:]
    assert "FAILED test_counting.py::TestCounting::test_restart_at_random_points_gives_the_same_target" in tested.stdout
    assert "1 passed" in tested.stdout  # propagate() itself is fine; two runs never agree, so the SQL check fails too
    # the failure shows the first record that differs, the whole run's and the restarted run's
    assert re.search(r"AssertionError: record \d+ differs \(\d+ records in the whole run, \d+ in the restarted run\)",
                     tested.stdout), tested.stdout[-3000:]
    assert re.search(r"whole run: +TIMESTART=2011-02-01 \d\d:\d\d:\d\d, TIMEEND=.*payload rows \[", tested.stdout)
    assert re.search(r"restarted run: TIMESTART=2011-02-01 .*payload rows \[", tested.stdout)
    assert "Python-judged run: TIMESTART=" in tested.stdout


class DayOfThirtySecondData(RegimeChecks):
    """Propagations 120 samples apart (maxage 1h over constant 30 s entries) and one step a day: far
    more than the 40 samples after which the kit used to stop each restarted run."""

    regime = AdTemp
    keys = {"interval": "30s", "maxage": "1h", "threshold": 0.5, "loglevel": "WARNING"}

    def rows(self):
        start = datetime(2011, 2, 1)
        return {"DBNS_SAB_Temp": [{"id": i + 1, "date_time": start + timedelta(seconds=30 * i),
                                   **{c: 20.0 + (i >= 1500) for c in PT}} for i in range(2880)]}


def test_the_kit_restarts_a_regime_whose_propagations_are_far_apart(tmp_path):
    """It used to spin 10 000 runs (over 5 minutes), then fail bare: now a fixed number of runs, each
    advancing the target, and it passes."""
    checks = DayOfThirtySecondData()
    for name in ("restart", "sql", "columns"):
        (tmp_path / name).mkdir()
    checks.test_restart_at_random_points_gives_the_same_target(tmp_path / "restart")
    checks.test_change_rule_in_sql_agrees_with_python(tmp_path / "sql")
    checks.test_propagate_yields_exactly_the_target_columns(tmp_path / "columns")
    assert len(target(tmp_path / "restart", "KitWhole")) >= 20  # about one an hour


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def rss_growth_over_library_runs(path: Path) -> float:
    """MB the process grew over 40 runs of a section, after 10 that let caches and arenas settle."""
    checks = DayOfThirtySecondData()
    load_source(path, AdTemp, {t: rows[:200] for t, rows in checks.rows().items()})

    def runs(n: int) -> None:
        for k in range(n):
            scrape(path, AdTemp, {**checks.keys, "maxiter": 1 + k % 5}, "KitMemory", catchup=True)
    runs(10)
    before = rss_mb()
    runs(40)
    return rss_mb() - before


def test_many_library_runs_in_one_process_release_their_memory(tmp_path):
    """The kit runs a section again and again in one process: each run's engines and statements must be
    freed (they were kept, ~0.5 MB a run, until the machine ran out of memory). In a fresh process, as a
    physicist's program is: pytest freezes its own heap, which makes the runner leave the collector be."""
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), str(here.parent)])}
    code = "import sys, pathlib, test_regime_kit as k; print(k.rss_growth_over_library_runs(pathlib.Path(sys.argv[1])))"
    child = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True,
                           text=True, timeout=600)
    assert child.returncode == 0, child.stderr[-3000:]
    grown = float(child.stdout.split()[-1])
    assert grown < 10, f"{grown:.0f} MB more after 40 runs"  # it was 20 MB


def test_the_documented_flow_works_with_the_console_script_and_no_pythonpath(tmp_path):
    """The flow of docs/writing-a-regime.md as a newcomer types it: the installed `scr.py` (not
    `python -m scraper`, which puts the current directory on the path by itself), from an empty
    directory, nothing on PYTHONPATH; then from elsewhere, naming the config file by its path."""
    scr = str(Path(sys.executable).parent / "scr.py")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SCRAPER_CFG")}

    def scr_py(*args: str, cwd: Path = tmp_path) -> subprocess.CompletedProcess:
        return subprocess.run([scr, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)

    made = scr_py("new-regime", "wptemp")
    assert made.returncode == 0, made.stderr
    helped = scr_py("--cfg", "wptemp.cfg", "-s", "wptemp_scraper", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "wptemp:Wptemp" in helped.stdout
    faked = scr_py("--cfg", "wptemp.cfg", "-s", "wptemp_faker", "--maxiter", "500")
    assert faked.returncode == 0, faked.stderr
    scraped = scr_py("--cfg", "wptemp.cfg", "-s", "wptemp_scraper", "--catchup", "--ALLOW_DROP_CREATE_TABLE")
    assert scraped.returncode == 0, scraped.stderr
    assert "entries read 500" in scraped.stdout and "propagations written 0" not in scraped.stdout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = scr_py("--cfg", str(tmp_path / "wptemp.cfg"), "-s", "wptemp_scraper", "--catchup", cwd=elsewhere)
    assert again.returncode == 0, again.stderr  # the regime is found next to its config file
    assert "propagations written 0" in again.stdout, "the target is the bookmark: nothing left to write"
