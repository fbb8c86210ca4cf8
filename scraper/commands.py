"""One library function per CLI verb; the CLI only parses arguments and prints what these return."""
from __future__ import annotations

import threading
from typing import Any

from scraper import config
from scraper.config import Settings
from scraper.modes.scrape import Engine, Summary


def settings(cfg_path: str | None, section: str, overrides: dict[str, Any] | None = None) -> Settings:
    return config.load(config.config_path(cfg_path), section, overrides)


def status(cfg_path: str | None) -> list:
    """`scr.py status`: a SectionStatus for every section of the config (see scraper/status.py)."""
    from scraper.runtime.status import status as section_statuses

    return section_statuses(config.config_path(cfg_path))


def supervisord(cfg_path: str | None, section: str, dest: str) -> list:
    """`scr.py -S PATH -s SECTION|ALL`: write supervisord program files, return their paths."""
    from scraper.runtime.supervisord import write_programs

    return write_programs(config.config_path(cfg_path), section, dest)


def run(cfg: Settings, *, allow_create: bool = False, drop: bool = False, catchup: bool = False,
        stop: threading.Event | None = None):
    """Run a section in its mode and return its summary (an object with `.text()`)."""
    if cfg.mode == "faker":
        from fakers.runner import run_faker  # fakers are optional at run time of a pure scraper

        return run_faker(cfg, stop)
    if cfg.mode == "averager":
        from scraper.modes.average import average

        return average(cfg, allow_create=allow_create, drop=drop, stop=stop)
    return scrape(cfg, allow_create=allow_create, drop=drop, catchup=catchup, stop=stop)


def scrape(cfg: Settings, *, allow_create: bool = False, drop: bool = False, catchup: bool = False,
           stop: threading.Event | None = None) -> Summary:
    engine = Engine(cfg, allow_create=allow_create, drop=drop, catchup=catchup, stop=stop)
    try:
        return engine.run()
    finally:
        engine.close()
