"""One INI file, named sections, each checked against the keys of its mode.

Effective value of a key = built-in default <- `[DEFAULT]` section <- the run's section <- command line.
`[DEFAULT]` may hold keys of several modes: a key there that the section's mode does not use is left
alone, but set in the section itself (or on the command line) it is a mistake. Every problem becomes
a ConfigError naming file, section and key (see errors.py).
"""
from __future__ import annotations

import difflib
import os
import shlex
from pathlib import Path
from typing import Any, Mapping

from configobj import ConfigObj, ConfigObjError

from scraper.config.keys import COMMON, RENAMED, Key
from scraper.errors import ConfigError

SHARED_SECTION = "DEFAULT"
# Where a value typed after `scr.py` is blamed: the operator fixes the command, not the file.
COMMAND_LINE = "command line"


def did_you_mean(word: str, candidates: Any, prefix: str = "") -> str:
    """`did you mean maxage? ` for a typo close to one of `candidates`, else ''."""
    close = difflib.get_close_matches(word, list(candidates), n=2)
    return f"did you mean {' or '.join(prefix + c for c in close)}? " if close else ""


def unknown_key(path: str, section: str | None, name: str, value: Any = None, candidates: Any = ()) -> ConfigError:
    """The error for a key no mode knows; for a renamed key's old name, it says the new one. A key
    typed on the command line (`path` is COMMAND_LINE) is named as typed, `--KEY`."""
    key, prefix = (f"--{name}", "--") if path == COMMAND_LINE else (name, "")
    if name in RENAMED:
        new = prefix + RENAMED[name]
        shown = (f"{new} {value}" if prefix else f"{new} = {value}") if value is not None else new
        return ConfigError(path, section, key, f"was renamed: use {shown}")
    hint = did_you_mean(name, candidates, prefix)
    where = f"scr.py -s {section} --help" if prefix and section else "docs/config.md"
    return ConfigError(path, section, key, f"unknown key ({hint}see {where})")


class Settings:
    """Effective settings of one section; attribute access (`cfg.maxage`) plus provenance for --help."""

    def __init__(self, path: str, section: str, values: dict[str, Any], origin: dict[str, str],
                 keys: Mapping[str, Key]):
        self.path, self.section = path, section
        self._values, self._origin, self._keys = values, origin, keys

    def __getattr__(self, name: str) -> Any:
        """A key's value. Kept as an attribute once asked for (settings never change once loaded), so
        that the next read is a plain one: a catch-up's loop reads a few keys per entry it samples."""
        try:
            value = self.__dict__[name] = self.__dict__["_values"][name]
            return value
        except KeyError:
            raise AttributeError(f"mode {self.__dict__['_values'].get('mode')} has no key {name}") from None

    def get(self, name: str, default: Any = None) -> Any:
        """A key's value where the mode may not have it (code shared by several modes)."""
        return self._values.get(name, default)

    def has(self, name: str) -> bool:
        return name in self._values

    def origin(self, name: str) -> str:
        return self._origin[name]

    def error(self, key: str | None, message: str) -> ConfigError:
        """A mistake in `key`'s value, blamed where the value came from: the command line if it was
        typed there (as `--KEY`), else the file."""
        if key is not None and self._origin.get(key) == COMMAND_LINE:
            return ConfigError(COMMAND_LINE, self.section, f"--{key}", message)
        return ConfigError(self.path, self.section, key, message)

    def command(self, verb: str = "", *tail: str) -> str:
        """The `scr.py` command that acts on this section as loaded: its config file (unless the
        default) and every command-line override, so a hint pasted back checks the same file."""
        words = ["scr.py", *([verb] if verb else []), "-s", self.section]
        if self.path != "scraper.cfg":
            words += ["--cfg", self.path]
        for name, key in self._keys.items():
            if self._origin[name] == COMMAND_LINE:
                words += [f"--{name}", key.show(self._values[name])]
        return shlex.join([*words, *tail])

    @property
    def base_dir(self) -> Path:
        return Path(self.path).resolve().parent

    def require(self, *names: str) -> None:
        for name in names:
            if self._values.get(name) in (None, ""):
                raise self.error(name, f"is required for mode {self.mode}")

    def describe(self) -> str:
        """What `scr.py -s SECTION --help` prints: every key of the mode, its value and its default."""
        rows = [(k.name, k.show(self._values[k.name]), k.show(k.default), self._origin[k.name])
                for k in self._keys.values()]
        # Columns as wide as their longest cell: a long URL must not push "set in" out of line.
        w = [max(len(r[i]) for r in rows + [("key", "value", "default", "")]) for i in range(3)]
        lines = [f"# effective settings of [{self.section}] (mode {self.mode}) from {self.path}",
                 f"{'key':<{w[0]}}  {'value':<{w[1]}}  {'default':<{w[2]}}  set in"]
        lines += [f"{n:<{w[0]}}  {v:<{w[1]}}  {d:<{w[2]}}  {o}" for n, v, d, o in rows]
        return "\n".join(lines)


def config_path(cli_path: str | None) -> str:
    """--cfg wins, then $SCRAPER_CFG, then ./scraper.cfg."""
    return cli_path or os.environ.get("SCRAPER_CFG") or "scraper.cfg"


def read_config(path: str) -> ConfigObj:
    if not os.path.exists(path):
        raise ConfigError(path, None, None, "config file not found (use --cfg PATH or set SCRAPER_CFG)")
    if os.path.isdir(path):
        raise ConfigError(path, None, None, "is a directory, not a config file (use --cfg PATH)")
    try:
        return ConfigObj(path, file_error=True, raise_errors=True, list_values=True, interpolation=False,
                         encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, None, None, f"is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except (ConfigObjError, OSError) as exc:
        raise ConfigError(path, None, None, f"cannot parse: {exc}") from None


def sections(path: str) -> list[str]:
    return [name for name in read_config(path).sections if name != SHARED_SECTION]


def load(path: str, section: str, overrides: dict[str, Any] | None,
         modes: Mapping[str, Mapping[str, Key]]) -> Settings:
    """Checked settings of one section; raises ConfigError on the first problem found.

    `modes` maps each mode's name to the keys it understands (scraper.modes.settings supplies it)."""
    cfg = read_config(path)
    if section == SHARED_SECTION:
        raise ConfigError(path, section, None, "holds keys shared by every section; run one of: "
                          + (", ".join(sections(path)) or "none"))
    if section not in cfg.sections:
        known = ", ".join(sections(path)) or "none"
        hint = did_you_mean(section, sections(path))
        raise ConfigError(path, section, None, f"no such section ({hint}sections: {known})")
    layers = [
        ("[DEFAULT]", SHARED_SECTION, dict(cfg.get(SHARED_SECTION, {}))),
        (f"[{section}]", section, dict(cfg[section])),
        (COMMAND_LINE, section, dict(overrides or {})),
    ]
    mode, where, blamed = COMMON["mode"].default, None, path
    for label, name, layer in layers:
        if "mode" in layer:
            mode, where, blamed = str(layer["mode"]).strip(), name, COMMAND_LINE if label == COMMAND_LINE else path
    if mode not in modes:
        hint = did_you_mean(mode, modes)
        raise ConfigError(blamed, where, "--mode" if blamed == COMMAND_LINE else "mode",
                          f'"{mode}" is not a mode ({hint}use one of {", ".join(modes)})')
    keys = modes[mode]
    known: dict[str, list[str]] = {}  # key name -> the modes that use it
    for name, their_keys in modes.items():
        for key in their_keys:
            known.setdefault(key, []).append(name)
    values = {k.name: k.default for k in keys.values()}
    origin = {k.name: "default" for k in keys.values()}
    for label, where, layer in layers:
        blamed = COMMAND_LINE if label == COMMAND_LINE else path
        for name, raw in layer.items():
            if isinstance(raw, dict):
                raise ConfigError(path, where, name, "nested sections are not supported")
            if name in RENAMED:  # anywhere, [DEFAULT] too: the old name would silently do nothing
                raise unknown_key(blamed, where, name, raw)
            key = keys.get(name)
            if key is None:
                if name not in known:  # [DEFAULT] serves every mode: any key is a likely meaning there
                    raise unknown_key(blamed, where, name, candidates=known if where == SHARED_SECTION else keys)
                if where == SHARED_SECTION:
                    continue  # a shared key for sections of another mode
                raise ConfigError(blamed, where, f"--{name}" if label == COMMAND_LINE else name,
                                  f"is not used by mode {mode} (it is a key of {', '.join(known[name])}; "
                                  "see docs/config.md)")
            try:
                values[name] = key.parse(raw)
            except ValueError as exc:  # blamed where it was written: the file's key, or the command's --KEY
                if label == COMMAND_LINE:
                    raise ConfigError(COMMAND_LINE, where, f"--{name}", str(exc)) from None
                raise ConfigError(path, where, name, str(exc)) from None
            origin[name] = label
    settings = Settings(path, section, values, origin, keys)
    settings.require("regime", *(("source",) if "source" in keys else ()))  # a logger reads no database
    return settings
