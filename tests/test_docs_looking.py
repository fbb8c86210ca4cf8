"""docs/looking.md shows real output of show, plot and report on the demo data: reproduced here from a
fresh demo (the shipped scraper.cfg, fakers and scrapers run in full), command by command; the PNGs
committed in docs/img are the size the documented commands write."""
from __future__ import annotations

import shlex
import shutil
import signal
import struct
from pathlib import Path

import pytest

from scraper import cli, commands
from test_docs import DOCS, README, ROOT, console_examples, is_subsequence, normalized

# one worker runs these tests (make test: --dist loadgroup) and builds their fixture once: session
# scope, as xdist interleaves other modules' tests, which would tear a module-scoped one down
pytestmark = pytest.mark.xdist_group("docs-looking-demo")

LOOKING = DOCS / "looking.md"
DEMO = ("adtemp_faker", "pmthv_faker", "adlid_faker", "adtemp_scraper", "pmthv_scraper", "adlid_scraper",
        "adlid_averager", "adtemp_bridge", "pmthv_bridge", "cbpm3_faker", "cbpm3_decimator")
OVERRIDES = {"cbpm3_decimator": {"keep": "10m"}}  # as `make demo` thins it


def examples() -> list[tuple[str, list[str]]]:
    """Every `$ scr.py show|plot|report` shown with its output, in docs/looking.md and the README."""
    return [(cmd, shown) for doc in (LOOKING, README) for cmd, shown in console_examples(doc)
            if shlex.split(cmd)[0] == "scr.py" and shlex.split(cmd)[1] in cli.LOOK_VERBS]


@pytest.fixture(scope="session")  # see pytestmark
def demo(tmp_path_factory) -> Path:
    """`make demo` (plus the averager; the bridges and the decimator the docs look at) in a fresh
    directory, in-process."""
    home = tmp_path_factory.mktemp("looking")
    shutil.copy(ROOT / "scraper.cfg", home / "scraper.cfg")
    (home / "docs" / "img").mkdir(parents=True)
    path = str(home / "scraper.cfg")
    for section in DEMO:
        overrides = {"loglevel": "WARNING", **OVERRIDES.get(section, {})} if not section.endswith("faker") else {}
        commands.run(commands.settings(path, section, overrides), allow_create=True, catchup=True)
    return home


def test_looking_md_shows_every_verb():
    verbs = {shlex.split(cmd)[1] for cmd, _ in examples()}
    assert verbs == set(cli.LOOK_VERBS)


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize("command,shown", examples(), ids=[c for c, _ in examples()])
def test_output_in_looking_md_is_what_the_cli_prints(command, shown, demo, monkeypatch, capsys):
    monkeypatch.chdir(demo)
    monkeypatch.delenv("SCRAPER_CFG", raising=False)
    monkeypatch.setenv("SCRAPER_MYCNF", str(demo / "no.my.cnf"))
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        status = cli.main(shlex.split(command)[1:])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    captured = capsys.readouterr()
    real = [normalized(line) for line in (captured.out + captured.err).splitlines()]
    expected = [normalized(line) for line in shown if line.strip() not in ("...", "")]
    assert status == (2 if shown[0].startswith(("scraper.cfg", "command line [")) else 0), captured.err
    assert is_subsequence(expected, real), f"`{command}` prints\n" + "\n".join(real)
    words = shlex.split(command)
    if "--out" in words and status == 0:
        out = words[words.index("--out") + 1]
        if out.startswith("docs/img/"):
            assert png_size(demo / out) == png_size(ROOT / out), f"{out} in the repository is not what the command writes"
