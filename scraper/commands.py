"""One library function per CLI verb; the CLI only parses arguments and prints what these return."""
from __future__ import annotations

from typing import Any

from scraper import config, modes
from scraper.config import Settings
from scraper.config.plugins import load_regime
from scraper.runtime.runner import RunOptions


def settings(cfg_path: str | None, section: str, overrides: dict[str, Any] | None = None) -> Settings:
    """A section's settings, checked against its mode's keys, and the regime/config agreement
    checked too: everything that can be known before any database is touched."""
    cfg = modes.settings(config.config_path(cfg_path), section, overrides)
    mode = modes.mode(cfg.mode)
    # a mode without a target (faker, decimator) runs regimes that declare none
    mode.validate(cfg, load_regime(cfg, need_target="target" in mode.keys))
    return cfg


def status(cfg_path: str | None) -> list:
    """`scr.py status`: a SectionStatus for every section of the config (see scraper/runtime/status.py)."""
    from scraper.runtime.status import status as section_statuses

    return section_statuses(config.config_path(cfg_path))


def supervisord(cfg_path: str | None, section: str, dest: str) -> list:
    """`scr.py -S PATH -s SECTION|ALL`: write supervisord program files, return their paths."""
    from scraper.runtime.supervisord import write_programs

    path = config.config_path(cfg_path)
    for name in (config.sections(path) if section == "ALL" else [section]):
        settings(path, name)  # the same checks as a run: no program file for a section that exits 2
    return write_programs(path, section, dest)


def run(cfg: Settings, options: RunOptions | None = None, **flags: Any):
    """Run a section in its mode and return its summary (an object with `.text()`).

    `flags` (allow_create=, drop=, catchup=, stop=, dry_run=) are a shorthand for RunOptions."""
    return modes.mode(cfg.mode).run(cfg, options or RunOptions(**flags))


def new_regime(name: str, dest: str = ".") -> list:
    """`scr.py new-regime NAME`: write a regime module, its config sections and a kit test."""
    from scraper.newregime import new_regime as write

    return write(name, dest)


def backup(cfg: Settings, dest: str):
    """`scr.py backup -s SECTION DEST`: a consistent, integrity-checked copy of a bridged file."""
    from scraper.modes.bridge.backup import backup as backup_file

    return backup_file(cfg, dest)


def migrate(cfg: Settings, action: str):
    """`scr.py migrate -s SECTION check|fix`: the differences between a bridged file and the section's
    layout (check), or applied (fix); a Plan (`.needed`, `.refusals`, `.text()`)."""
    from scraper.modes.bridge.migrate import migrate as migrate_file

    return migrate_file(cfg, action)
