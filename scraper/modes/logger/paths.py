"""Local paths of a logger section (folder, spool, rejected) and its file pattern, checked early."""
from __future__ import annotations

import re
from pathlib import Path

from scraper.config import Settings

from .api import Folder


def local(cfg: Settings, text: str) -> Path:
    """`{section}` filled in; relative to the config file, like every SQLite URL."""
    p = Path(text.replace("{section}", cfg.section))
    return p if p.is_absolute() else cfg.base_dir / p


def pattern(cfg: Settings, folder: Folder) -> str:
    """The section's `pattern` when set there, else the regime's Folder(pattern=...), else the default."""
    if cfg.origin("pattern") == "default" and folder.pattern:
        return folder.pattern
    return cfg.pattern


def check_pattern(cfg: Settings, text: str) -> None:
    try:
        re.compile(text)
    except re.error as exc:
        raise cfg.error("pattern", f'"{text}" is not a regular expression: {exc}') from None
