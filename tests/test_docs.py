"""The docs are part of the product: what they claim is checked here, so a drifting doc fails the suite.

Every config key has a reference entry with its real default and a parsing example; the generated key
table is current; config snippets use real keys; CLI output shown is real output; the tutorial regime
runs exactly as printed; the README's two set-up commands are the Makefile targets that CI runs.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from configobj import ConfigObj

from scraper import modes
from scraper import cli
from scraper import commands
from scraper import config
from scraper.modes import reference as configdoc
from scraper.modes import all_keys

# one worker runs these tests (make test: --dist loadgroup) and builds their fixture once: session
# scope, as xdist interleaves other modules' tests, which would tear a module-scoped one down
pytestmark = pytest.mark.xdist_group("docs-demo")

KEYS = all_keys()

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
CONFIG_MD = DOCS / "config.md"
TUTORIAL_MD = DOCS / "writing-a-regime.md"

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
ENTRY = re.compile(r"^#### `(?P<name>[^`]+)`\n(?P<first>[^\n]*)", re.M)
FIRST = re.compile(r"^Default: (?P<default>`[^`]*`|\*none\*)\. Example: `(?P<key>\w+) = (?P<value>[^`]+)`$")
ABSPATH = re.compile(r"(?<![:/\w.~])/[\w./-]+")


def markdown_files() -> list[Path]:
    # Collected at import time: a missing file must fail a test below, not break collection of the suite.
    return [p for p in (README, *sorted(DOCS.glob("*.md"))) if p.exists()]


def blocks(path: Path, lang: str) -> list[str]:
    return [body for kind, body in FENCE.findall(path.read_text()) if kind == lang]


def console_examples(path: Path) -> list[tuple[str, list[str]]]:
    """(command, shown output lines) for every `$ ...` line of the console blocks of a markdown file."""
    out: list[tuple[str, list[str]]] = []
    for body in blocks(path, "console"):
        for line in body.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif out:
                out[-1][1].append(line)
    return out


def normalized(line: str) -> str:
    """Compare output regardless of column padding and of where the checkout lives."""
    return " ".join(ABSPATH.sub("PATH", line).split())


def matches(shown: str, real: str) -> bool:
    """A shown line ending in ` ...` was trimmed by the doc's author: its beginning must match."""
    if shown.endswith(" ..."):
        return real.startswith(shown[:-4])
    return shown == real


def is_subsequence(shown: list[str], real: list[str]) -> bool:
    it = iter(real)
    return all(any(matches(s, r) for r in it) for s in shown)


def summary(line: str) -> str:
    """A run's summary line without its query count (an implementation detail of batching)."""
    return re.sub(r"source queries \d+", "source queries N", line)


# --- docs/config.md ---------------------------------------------------------------------------------

def reference_entries() -> dict[str, str]:
    entries: dict[str, str] = {}
    for m in ENTRY.finditer(CONFIG_MD.read_text()):
        assert m["name"] not in entries, f"docs/config.md documents {m['name']} twice"
        entries[m["name"]] = m["first"]
    return entries


def test_every_config_key_has_a_reference_entry_and_every_entry_is_a_real_key():
    documented = set(reference_entries())
    missing, unknown = sorted(set(KEYS) - documented), sorted(documented - set(KEYS))
    assert not missing, (f"docs/config.md has no reference entry for {missing}: add '#### `key`' followed by "
                         "'Default: `...`. Example: `key = value`' and a paragraph, then run "
                         "`python -m scraper.modes.reference --write docs/config.md`")
    assert not unknown, f"docs/config.md documents keys that scraper/config.py KEYS does not have: {unknown}"


@pytest.mark.parametrize("name", list(KEYS))
def test_reference_entry_states_the_real_default_and_an_example_an_operator_can_paste(name, tmp_path):
    first = reference_entries().get(name)
    if first is None:
        pytest.skip("missing entry is reported by the test above")
    m = FIRST.match(first)
    assert m, f"docs/config.md `{name}`: first line must read 'Default: `...`. Example: `{name} = ...`', got {first!r}"
    assert m["default"] == configdoc.shown_default(KEYS[name]), f"docs/config.md `{name}`: wrong default"
    assert m["key"] == name
    # The example goes through the same configobj parsing and validation as an operator's file.
    mode = modes.modes_using(name)[0]
    sourced = {"source": "sqlite:///x.db"} if "source" in modes.mode(mode).keys else {}
    keys = {"regime": "regimes.adlid:AdLid", **sourced, "mode": mode,
            **({"aggregate": "avg"} if mode == "averager" else {}), name: m["value"]}
    cfg = tmp_path / "example.cfg"
    cfg.write_text("[example]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))
    settings = modes.settings(str(cfg), "example")
    assert settings.origin(name) == "[example]"


def test_generated_key_table_in_config_md_is_current():
    text = CONFIG_MD.read_text()
    assert configdoc.refresh(text) == text, "run `python -m scraper.modes.reference --write docs/config.md`"
    for key in KEYS.values():
        assert f"[`{key.name}`](#{key.name})" in text


def test_configdoc_write_refreshes_only_the_generated_block(tmp_path):
    doc = tmp_path / "config.md"
    doc.write_text(f"# hand-written\n\n{configdoc.BEGIN}\n| stale |\n{configdoc.END}\n\ntail stays\n")
    assert configdoc.main(["--write", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# hand-written\n") and text.endswith("\n\ntail stays\n")
    assert "| stale |" not in text and configdoc.table() in text
    assert configdoc.main(["--write", str(tmp_path / "none.md")]) == 2


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.name)
def test_config_snippets_in_docs_use_only_real_keys_with_valid_values(path):
    for body in blocks(path, "ini"):
        first = body.splitlines()[0] if body else ""
        if first.startswith(("#", ";")) and "scraper.cfg" not in first or re.search(r"^\[\w+:", body, re.M):
            continue  # another program's file: `# ~/.my.cnf`, `; /etc/supervisor/...`, `[program:x]`
        parsed = ConfigObj(body.splitlines(), list_values=True, interpolation=False)
        for section in parsed.sections:
            for name, value in parsed[section].items():
                assert name in KEYS, f"{path.name} [{section}]: {name} is not a config key"
                KEYS[name].parse(value)  # raises with the operator's message on a bad value


def test_every_section_of_the_shipped_scraper_cfg_loads():
    path = str(ROOT / "scraper.cfg")
    for section in config.sections(path):
        modes.settings(path, section)


# --- CLI output shown in the docs ---------------------------------------------------------------------

def shown_cli_examples() -> list[tuple[str, str, list[str]]]:
    """Read-only examples (help and operator mistakes) whose output the docs show."""
    found = []
    for path in markdown_files():
        for command, shown in console_examples(path):
            words = shlex.split(command)
            if words[0] != "scr.py" or not shown:
                continue
            if "--help" in words or shown[0].startswith(("scraper.cfg", "scr.py:", "command line [")):
                found.append((path.name, command, shown))
    return found


@pytest.fixture(scope="session")
def demo_state(tmp_path_factory) -> Path:
    """The shipped scraper.cfg in a fresh directory, after a miniature `make demo`: every faker section
    writes 50 entries, every other section catches up once, so sources and target tables exist."""
    home = tmp_path_factory.mktemp("demo")
    shutil.copy(ROOT / "scraper.cfg", home / "scraper.cfg")
    path = str(home / "scraper.cfg")
    sections = config.sections(path)
    mode_of = {section: modes.settings(path, section).mode for section in sections}
    # In-process (no interpreter start-up per section); fakers first, so every source table exists.
    for section in sorted(sections, key=lambda s: mode_of[s] != "faker"):
        if mode_of[section] in ("stream", "stream_faker"):
            continue  # they need a broker (docs/streams.md shows their output; tests/integration/test_stream*)
        overrides = {"maxiter": "50"} if mode_of[section] == "faker" else {}
        commands.run(modes.settings(path, section, overrides), allow_create=True, catchup=True)
    return home


@pytest.mark.parametrize("doc,command,shown", shown_cli_examples(), ids=lambda v: v if isinstance(v, str) else "")
def test_cli_output_shown_in_the_docs_is_what_the_cli_prints(doc, command, shown, demo_state, tmp_path,
                                                             monkeypatch, capsys):
    home = tmp_path / "demo"
    shutil.copytree(demo_state, home)  # examples are read-only by selection; a copy makes sure
    monkeypatch.chdir(home)
    monkeypatch.delenv("SCRAPER_CFG", raising=False)
    monkeypatch.setenv("SCRAPER_MYCNF", str(home / "no.my.cnf"))
    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps help to the terminal width
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        status = cli.main(shlex.split(command)[1:])
    finally:
        for sig, handler in handlers.items():  # scr.py installs its own; give pytest's back
            signal.signal(sig, handler)
    captured = capsys.readouterr()
    real = [normalized(line) for line in (captured.out + captured.err).splitlines()]
    expected = [normalized(line) for line in shown if line.strip() not in ("...", "")]
    assert status == (0 if "--help" in command else 2)
    assert is_subsequence(expected, real), f"{doc}: `{command}` prints\n" + "\n".join(real)


def test_bare_scr_py_names_the_sections_in_one_line_and_exits_2(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("SCRAPER_CFG", raising=False)
    assert cli.main([]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert "scr.py -s SECTION" in line and all(s in line for s in config.sections("scraper.cfg"))
    assert captured.out == ""


def test_help_without_a_config_file_still_helps(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCRAPER_CFG", raising=False)
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: scr.py -s SECTION") and "config file not found" in out


def test_python_m_scraper_is_the_same_cli():
    proc = subprocess.run([sys.executable, "-m", "scraper", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "80"})
    assert proc.returncode == 0 and proc.stdout.startswith("usage: scr.py -s SECTION")
    assert "scr.py -s SECTION --help" in proc.stdout and "docs/config.md" in proc.stdout


def test_every_key_is_in_the_help_of_a_section_of_its_mode(monkeypatch, capsys):
    """scr.py --help stays short; the keys are where an operator asks about one section: every key of
    every mode is in `scr.py -s SECTION --help` of a shipped section of that mode (and in config.md)."""
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("SCRAPER_CFG", raising=False)
    shown: set[str] = set()
    for section in config.sections("scraper.cfg"):
        assert cli.main(["-s", section, "--help"]) == 0
        shown |= {line.split()[0] for line in capsys.readouterr().out.splitlines()[2:]}
    assert shown == set(KEYS)


# --- docs/concepts.md: the worked example's log is the engine's log ---------------------------------

def test_worked_example_log_in_concepts_is_what_the_engine_logs(sqlite_dbs, caplog):
    from factories import AdTempRowFactory, create_adtemp, insert
    from support import scrape, validities

    section = (DOCS / "concepts.md").read_text().split("## The worked example", 1)[1].split("\n## ", 1)[0]
    shown = FENCE.search(section)[2].splitlines()
    src = sqlite_dbs.engine("source")
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(40))  # 00:00:10 .. 00:06:40, constant
    with caplog.at_level(logging.DEBUG, logger="scraper.sourcevector"):
        scrape(sqlite_dbs.settings(regime="regimes.adtemp:AdTemp", interval="10s", maxage="1m",
                                   threshold=1.0, timefloor="2011-02-01 00:01:00"))
    logged = [r.getMessage() for r in caplog.records if r.name == "scraper.sourcevector"]
    assert logged[:len(shown)] == shown
    records = [f"[{a:%H:%M:%S}, {b:%H:%M:%S}]" for a, b in validities(sqlite_dbs.engine("target"), "DcsAdTemp")]
    assert f"run writes four records: {', '.join(records)}." in " ".join(section.split()) and len(records) == 4


# --- docs/writing-a-regime.md: the tutorial runs as printed -----------------------------------------

def test_tutorial_regime_is_complete_in_under_30_lines_and_importable(tmp_path):
    code = blocks(TUTORIAL_MD, "python")[0]  # the tutorial regime; later blocks show the test kit
    assert len(code.splitlines()) < 30
    path = tmp_path / "tutorial_regime.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("tutorial_regime", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from scraper import Faker, Regime, Scraper

    regimes = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Regime) and v is not Regime]
    (regime,) = regimes
    assert regime.sources and regime.target.columns
    assert issubclass(regime.scraper, Scraper) and (regime.scraper.change is not None
                                                    or regime.scraper.changed is not Scraper.changed)
    assert issubclass(regime.faker, Faker) and regime.faker.tables


def test_tutorial_commands_fake_and_scrape_the_tutorial_regime_into_contiguous_validity_records(tmp_path):
    text = TUTORIAL_MD.read_text()
    module = re.search(r"Save this as `regimes/(\w+)\.py`", text)[1]
    code = blocks(TUTORIAL_MD, "python")[0]  # the tutorial regime; later blocks show the test kit
    (cfg,) = blocks(TUTORIAL_MD, "ini")
    # A `regimes` package of our own, first on PYTHONPATH: the doc's `regime = regimes.<module>:...` as is.
    (tmp_path / "regimes").mkdir()
    (tmp_path / "regimes" / "__init__.py").write_text("")
    (tmp_path / "regimes" / f"{module}.py").write_text(code)
    (tmp_path / "scraper.cfg").write_text(cfg)
    env = {k: v for k, v in os.environ.items() if k != "SCRAPER_CFG"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT), env.get("PYTHONPATH", "")])
    examples = [(c, out) for c, out in console_examples(TUTORIAL_MD) if c.startswith("scr.py")]
    assert len(examples) == 3, "the tutorial shows one faker, one scraper and one new-regime command"
    for command, shown in examples:
        proc = subprocess.run([sys.executable, "-m", "scraper", *shlex.split(command)[1:]], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert [summary(l) for l in proc.stdout.splitlines()] == [summary(l) for l in shown], \
            f"`{command}` now prints {proc.stdout!r}"
    kls = re.search(r'Target\("(\w+)"', code)[1]
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'var' / 'tmp_offline_db.db'}")
    try:
        vld = sa.Table(f"{kls}Vld", sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            records = conn.execute(sa.select(vld.c.TIMESTART, vld.c.TIMEEND).order_by(vld.c.SEQNO)).all()
    finally:
        engine.dispose()
    assert records, "the tutorial scrape wrote no validity record"
    assert all(start < end for start, end in records)
    assert all(prev[1] == nxt[0] for prev, nxt in zip(records, records[1:])), "validity records not contiguous"


# --- README: two set-up commands, and CI runs the second ------------------------------------------------

def quick_start_commands() -> list[str]:
    text = README.read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    body = next(b for kind, b in FENCE.findall(section) if kind in ("sh", "console"))
    lines = [line.split("#", 1)[0].strip().removeprefix("$ ") for line in body.splitlines()]
    return [line for line in lines if line]


def test_readme_quick_start_is_exactly_two_commands_that_are_makefile_targets():
    assert quick_start_commands() == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no `{target}` target"


def test_ci_runs_the_readme_test_command():
    run = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "make test" in [line.strip() for line in run if not line.lstrip().startswith("#")]
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("target,does", [("demo", "scr.py -s"), ("test", "pytest")])
def test_make_targets_do_what_the_readme_says(target, does):
    proc = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert does in proc.stdout


def test_docs_index_in_readme_links_every_doc_and_links_resolve():
    for name in ("concepts.md", "config.md", "writing-a-regime.md", "operations.md"):
        assert (DOCS / name).exists(), f"docs/{name} is missing"
    readme = README.read_text()
    for doc in DOCS.glob("*.md"):
        assert f"docs/{doc.name}" in readme, f"README does not link docs/{doc.name}"
    for path in markdown_files():
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[\w-]+)?\)", path.read_text()):
            assert (path.parent / target).exists(), f"{path.name} links to missing {target}"


def test_every_source_file_the_docs_name_exists():
    """A reader follows `scraper/core/bins.py` to the code: a path left behind by a move sends them nowhere."""
    for path in markdown_files():
        text = path.read_text()
        made = set(re.findall(r"Save this as `([\w/]+\.py)`", text))  # the tutorial's, written by the reader
        for named in set(re.findall(r"`((?:scraper|regimes|fakers|bench|tests)/[\w/]+\.py)`", text)) - made:
            assert (ROOT / named).exists(), f"{path.name} names {named}, which does not exist"


def test_readme_layout_names_every_engine_module_regime_and_top_level_directory():
    section = README.read_text().split("## Layout", 1)[1]
    words = set(re.findall(r"[\w.]+", FENCE.search(section)[2]))
    for package in ("scraper", "regimes", "fakers"):
        for module in (ROOT / package).rglob("*.py"):
            if not module.stem.startswith("__"):
                assert {module.stem, module.name} & words, f"README layout does not mention {module.relative_to(ROOT)}"
    listed = {w.rstrip("/") for w in re.findall(r"^(\w+)/", FENCE.search(section)[2], re.M)}
    assert all((ROOT / d).is_dir() for d in listed), f"README layout lists a directory that does not exist: {listed}"
