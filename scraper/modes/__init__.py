"""The registry of modes: what `mode = NAME` in a section runs.

A mode is a module. It declares the keys only it has (`KEYS`), the shared keys it reads (`USES`, names
from scraper.config.keys.CATALOGUE), an optional `validate(cfg, regime)` that checks a section before
any database is touched, and `run(cfg, options)` which runs the section on the mode-neutral runner
(scraper/runtime/runner.py) and returns a summary with `.text()`. Modules are imported by name only
when a section uses them, so the engine never imports the fakers' test-data code it does not run.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from scraper import config
from scraper.config.keys import CATALOGUE, COMMON, Key

MODES: dict[str, str] = {
    "scraper": "scraper.modes.scrape",
    "averager": "scraper.modes.average",
    "faker": "fakers.runner",
    "bridge": "scraper.modes.bridge",
    "decimator": "scraper.modes.decimate",
    "stream": "scraper.modes.stream",
    "stream_faker": "fakers.alerts",
    "logger": "scraper.modes.logger",
}


@dataclass(frozen=True)
class Mode:
    name: str
    module: ModuleType

    @property
    def keys(self) -> dict[str, Key]:
        """Every key a section of this mode may set, in the order --help shows them."""
        own = {k.name: k for k in getattr(self.module, "KEYS", ())}
        shared = {name: CATALOGUE[name] for name in getattr(self.module, "USES", ())}
        # a mode reading no database (the logger) says so: `source` is then no key of its sections
        unread = () if getattr(self.module, "READS_SOURCE", True) else ("source", "source_tz")
        head = {name: COMMON[name] for name in ("regime", "mode", "source", "source_tz") if name not in unread}
        rest = {name: key for name, key in COMMON.items() if name not in unread}
        return {**head, **shared, **own, **rest}  # what runs and where first, operations last

    def validate(self, cfg: config.Settings, regime: Any) -> None:
        common_checks(cfg)
        check = getattr(self.module, "validate", None)
        if check is not None:
            check(cfg, regime)

    def run(self, cfg: config.Settings, options: Any) -> Any:
        """A run that loses its lease (runtime/lease.py) stands by and runs again once it holds it."""
        from scraper.runtime.lease import standing_by

        return standing_by(lambda: self.module.run(cfg, options))


def common_checks(cfg: config.Settings) -> None:
    """What any section may get wrong in keys several modes share, caught before any database."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from scraper.runtime.stop import sentinel_path

    floor = cfg.get("timefloor")
    zone = cfg.get("source_tz", "UTC")
    now = datetime.now(ZoneInfo(zone)).replace(tzinfo=None)
    if floor is not None and floor > now:
        raise cfg.error("timefloor", f"{floor} is in the future ({zone} now is {now:%Y-%m-%d %H:%M}): "
                        "nothing would ever be read")
    start, end = cfg.get("seed_timestart"), cfg.get("seed_timeend")
    if start is not None and end is not None and end < start:
        raise cfg.error("seed_timeend", f"{end} is before seed_timestart = {start}")
    sentinel = sentinel_path(cfg)
    if sentinel is not None and cfg.origin("exit_sentinel") != "default" and not sentinel.parent.is_dir():
        raise cfg.error("exit_sentinel", f"directory {sentinel.parent} does not exist: the sentinel could never appear")


def mode(name: str) -> Mode:
    """The registered mode `name`; KeyError for a name that is not registered."""
    return Mode(name, importlib.import_module(MODES[name]))


def all_keys() -> dict[str, Key]:
    """Every key of every mode: the CLI's override list and the config reference."""
    keys: dict[str, Key] = {}
    for name in MODES:
        keys.update(mode(name).keys)
    return keys


def modes_using(key: str) -> list[str]:
    return [name for name in MODES if key in mode(name).keys]


def settings(path: str, section: str, overrides: dict[str, Any] | None = None) -> config.Settings:
    """The checked settings of one section, against the keys of the section's own mode."""
    return config.load(path, section, overrides, {name: mode(name).keys for name in MODES})
