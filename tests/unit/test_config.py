"""Config layering and file resolution: default <- [DEFAULT] <- section <- command line."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from scraper import config, modes
from scraper.modes import all_keys, settings as load

KEYS = all_keys()
from scraper.errors import ConfigError

BASE = "regime = regimes.adtemp:AdTemp\nsource = sqlite:///src.db\n"


def write(tmp_path: Path, text: str, name: str = "scraper.cfg") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_each_layer_overrides_the_one_below_and_says_where_a_value_came_from(tmp_path):
    path = write(tmp_path, "[DEFAULT]\nmaxage = 5m\ninterval = 1m\nheartbeat = 1h\n"
                           f"[s]\n{BASE}maxage = 7m\ninterval = 2m\n")
    cfg = load(path, "s", {"maxage": "9m"})
    assert cfg.maxage == timedelta(minutes=9) and cfg.origin("maxage") == "command line"
    assert cfg.interval == timedelta(minutes=2) and cfg.origin("interval") == "[s]"
    assert cfg.heartbeat == timedelta(hours=1) and cfg.origin("heartbeat") == "[DEFAULT]"
    assert cfg.sleep == KEYS["sleep"].default and cfg.origin("sleep") == "default"


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_every_key_of_a_mode_has_a_valid_default_and_help_lists_exactly_the_modes_keys(tmp_path, mode):
    extra = "aggregate = avg\n" if mode == "averager" else ""
    base = BASE if "source" in modes.mode(mode).keys else "".join(  # a logger reads no source database
        line for line in BASE.splitlines(keepends=True) if not line.startswith("source"))
    cfg = load(write(tmp_path, f"[s]\n{base}mode = {mode}\n{extra}"), "s")
    mode_keys = modes.mode(mode).keys
    base = BASE if "source" in mode_keys else "".join(  # a stream reads a broker, no source table
        line + "\n" for line in BASE.splitlines() if not line.startswith("source"))
    cfg = load(write(tmp_path, f"[s]\n{base}mode = {mode}\n{extra}"), "s")
    help_names = {line.split()[0] for line in cfg.describe().splitlines()[2:]}
    assert help_names == set(mode_keys)
    for name, key in mode_keys.items():
        assert key.doc, name
        if name not in ("regime", "source", "mode", "aggregate"):
            assert getattr(cfg, name) == key.default, name
        if key.default is not None:  # what --help shows as the default is itself a valid value
            assert key.parse(key.show(key.default)) == key.default, name


def test_a_key_of_another_mode_is_a_mistake_in_a_section_but_fine_in_default(tmp_path):
    path = write(tmp_path, f"[DEFAULT]\nprofile = sine\nbin = 1d\n[s]\n{BASE}")
    assert load(path, "s").mode == "scraper"  # [DEFAULT] serves fakers and averagers too
    path = write(tmp_path, f"[s]\n{BASE}profile = sine\n")
    with pytest.raises(ConfigError) as exc:
        load(path, "s")
    assert (exc.value.section, exc.value.key) == ("s", "profile")
    assert "is not used by mode scraper" in str(exc.value) and "faker" in str(exc.value)


def test_shared_section_is_not_runnable_and_other_sections_do_not_leak(tmp_path):
    path = write(tmp_path, f"[DEFAULT]\nthreshold = 2.5\n[a]\n{BASE}maxiter = 7\n[b]\n{BASE}")
    assert config.sections(path) == ["a", "b"]
    assert load(path, "b").maxiter == 0
    assert load(path, "b").threshold == 2.5
    with pytest.raises(ConfigError) as exc:
        load(path, "DEFAULT")
    assert (exc.value.section, exc.value.key) == ("DEFAULT", None)


@pytest.mark.parametrize("where", ["DEFAULT", "s", "command line"])
def test_unknown_key_is_reported_in_the_layer_it_was_written(tmp_path, where):
    shared = "bogus = 1\n" if where == "DEFAULT" else ""
    local = "bogus = 1\n" if where == "s" else ""
    path = write(tmp_path, f"[DEFAULT]\n{shared}[s]\n{BASE}{local}")
    with pytest.raises(ConfigError) as exc:
        load(path, "s", {"bogus": "1"} if where == "command line" else None)
    assert exc.value.section == ("DEFAULT" if where == "DEFAULT" else "s")
    if where == "command line":  # typed after scr.py, named as typed: the file does not hold it
        assert str(exc.value) == "command line [s] --bogus: unknown key (see scr.py -s s --help)"
    else:
        assert str(exc.value) == f"{path} [{exc.value.section}] bogus: unknown key (see docs/config.md)"


@pytest.mark.parametrize("key, value, words", [
    ("maxage", "10x", "is not a duration"), ("offset", "-1", "below the minimum"),
    ("threshold", "high", "is not a number"), ("mode", "scrapper", "is not a mode"),
    ("timefloor", "soon", "is not a time"), ("source_tz", "Mars/Olympus", "IANA"),
    ("seed_target_tables", "perhaps", "is not a boolean"), ("loglevel", "LOUD", "log level"),
])
def test_a_bad_value_names_file_section_key_and_the_problem(tmp_path, key, value, words):
    path = write(tmp_path, f"[s]\n{BASE}{key} = {value}\n")
    with pytest.raises(ConfigError) as exc:
        load(path, "s")
    message = str(exc.value)
    assert message.startswith(f"{path} [s] {key}: ") and words in message and "\n" not in message


@pytest.mark.parametrize("key, value, words", [
    ("maxage", "10x", "is not a duration"), ("offset", "-1", "below the minimum"), ("mode", "scrapper", "is not a mode"),
])
def test_a_bad_value_given_on_the_command_line_names_the_option(tmp_path, key, value, words):
    """The file is right; the operator fixes the command they typed, so the line names --KEY there."""
    path = write(tmp_path, f"[s]\n{BASE}")
    with pytest.raises(ConfigError) as exc:
        load(path, "s", {key: value})
    message = str(exc.value)
    assert message.startswith(f"command line [s] --{key}: ") and words in message and path not in message


def test_values_are_typed(tmp_path):
    path = write(tmp_path, f"[s]\n{BASE}offset = 3\nthreshold = 0.25\nseed_target_tables = yes\n"
                           "timefloor = 2011-02-01 00:00:00\naggregate = avg, max\nsource_tz = Asia/Shanghai\n")
    cfg = load(path, "s")
    assert (cfg.offset, cfg.threshold, cfg.seed_target_tables) == (3, 0.25, True)
    assert cfg.timefloor == datetime(2011, 2, 1) and cfg.aggregate == ("avg", "max")
    assert cfg.source_tz == "Asia/Shanghai"


def test_regime_and_source_are_required(tmp_path):
    path = write(tmp_path, "[s]\nsource = sqlite:///x.db\n")
    with pytest.raises(ConfigError) as exc:
        load(path, "s")
    assert exc.value.key == "regime"


class TestConfigPath:
    """--cfg wins over $SCRAPER_CFG, which wins over ./scraper.cfg."""

    def test_cli_path_wins(self, monkeypatch):
        monkeypatch.setenv("SCRAPER_CFG", "/env/scraper.cfg")
        assert config.config_path("/cli/scraper.cfg") == "/cli/scraper.cfg"

    def test_environment_next(self, monkeypatch):
        monkeypatch.setenv("SCRAPER_CFG", "/env/scraper.cfg")
        assert config.config_path(None) == "/env/scraper.cfg"

    def test_working_directory_last(self, monkeypatch, tmp_path):
        monkeypatch.delenv("SCRAPER_CFG", raising=False)
        monkeypatch.chdir(tmp_path)
        write(tmp_path, f"[here]\n{BASE}")
        assert config.config_path(None) == "scraper.cfg"
        assert config.sections(config.config_path(None)) == ["here"]

    def test_missing_file_is_an_operator_error(self, tmp_path):
        with pytest.raises(ConfigError, match="config file not found"):
            load(str(tmp_path / "nope.cfg"), "s")

    def test_relative_sqlite_paths_are_relative_to_the_config_file(self, tmp_path, monkeypatch):
        from scraper.db import resolve_url

        (tmp_path / "etc").mkdir()
        path = write(tmp_path / "etc", f"[s]\n{BASE}target = sqlite:///var/t.db\n")
        monkeypatch.chdir("/")
        cfg = load(path, "s")
        assert resolve_url(cfg, "source").database == str(tmp_path / "etc" / "src.db")
        assert resolve_url(cfg, "target").database == str(tmp_path / "etc" / "var" / "t.db")
