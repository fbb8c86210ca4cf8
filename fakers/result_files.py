"""mode = faker for a logger regime with a Folder: write processing result files into `source`.

The files are what the processing writes: `<8 characters>.json` holding `stream_id`, `file_ts` and
`records` (the regime's `fake_file(n)`), one every `sleep`, `maxiter` of them (0: until stopped).
Each is written under a name the pattern does not match and then renamed, as a careful producer
does; numbering continues after the files already there, so a faker can be run again.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scraper.config import Settings
from scraper.runtime.runner import RunOptions, Runner

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def file_name(n: int) -> str:
    """An 8-character name matching the default pattern `[0-9a-z]{8}\\.json`, different for each n."""
    value, out = (n * 2654435761) % 36 ** 8, ""
    for _ in range(8):
        value, d = divmod(value, 36)
        out = DIGITS[d] + out
    return f"{out}.json"


def write_result_file(folder: Path, name: str, document: dict[str, Any]) -> Path:
    """Written under a name the pattern does not match, then renamed: a reader never sees half a file."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.part"
    tmp.write_text(json.dumps(document, indent=1))
    path = folder / name
    os.replace(tmp, path)
    return path


@dataclass
class FilesSummary:
    section: str
    folder: str
    written: int = 0

    def text(self) -> str:
        return f"[{self.section}] result files written {self.written} -> {self.folder}"


class FilesJob:
    def __init__(self, cfg: Settings, regime, folder: Path):
        self.cfg, self.regime, self.folder = cfg, regime, folder
        self.summary = FilesSummary(cfg.section, str(folder))
        self.n = 1 + sum(1 for _ in folder.glob("*.json")) if folder.exists() else 1

    def step(self) -> bool:
        write_result_file(self.folder, file_name(self.n), self.regime.fake_file(self.n))
        self.n += 1
        self.summary.written += 1
        return self.cfg.sleep.total_seconds() == 0

    def flush(self) -> None:
        pass

    def idle(self) -> float:
        return self.cfg.sleep.total_seconds()

    def done(self) -> bool:
        return bool(self.cfg.maxiter) and self.summary.written >= self.cfg.maxiter

    def gauges(self) -> dict:
        return {}

    def totals(self) -> dict:
        return {"files": self.summary.written}


def run(cfg: Settings, options: RunOptions, regime) -> FilesSummary:
    from scraper.modes.logger.api import Folder

    if not isinstance(regime.sources[0], Folder):
        raise cfg.error("regime", f'"{cfg.regime}" polls a device: emulate it with python -m fakers.devices')
    folder = Path(cfg.source)
    folder = folder if folder.is_absolute() else cfg.base_dir / folder
    return Runner(cfg, options).run(FilesJob(cfg, regime, folder))
