"""mode = logger: lab devices and result files into the target, validated whole, with a spool.

api.py is what a regime declares (Device pollers, Folder, Topic), polling.py asks a device,
batches.py checks a batch whole, ahead.py refuses one dated in the future, store.py is the target
(the bridge's time-series layout on every backend, and the file ledger), spool.py keeps batches while the target is down, files.py handles the
result files, mode.py runs the rounds on the mode-neutral runner, health.py is `scr.py status`.
docs/devices.md is the operator's guide.
"""
from __future__ import annotations

from datetime import timedelta

from scraper.config import Settings
from scraper.config.keys import Key
from scraper.runtime.runner import RunOptions

KEYS = [
    Key("device", "text", "",
        "logger: where the regime's device answers: udp://HOST:PORT or http://HOST:PORT[/prefix]"),
    Key("time_from", "choice(device, receipt)", "device",
        "logger: a reading's time: the device's own timestamp, or the reply's arrival (UTC)"),
    Key("timeout", "positive_duration", timedelta(seconds=2), "logger: how long a poll waits for the device's reply"),
    Key("folder", "text", "var/incoming", "logger: the folder of result files (relative to the config file)"),
    Key("pattern", "text", r"[0-9a-z]{8}\.json",
        "logger: regexp a result file's whole name must match (the regime's Folder(pattern=) when not set here)"),
    Key("settle", "duration", timedelta(seconds=10), "logger: a file modified more recently than this is not read yet"),
    Key("done", "choice(delete, move)", "delete",
        "logger: what becomes of a loaded file, after its commit: deleted, or moved into <folder>/done/"),
    Key("spool", "text", "var/spool/{section}.spool",
        "logger: the local file where polled batches wait while the target is down"),
    Key("spool_max", "integer(min=1)", 1_000_000,
        "logger: readings the spool may hold; beyond, new readings are dropped (counted, logged, status ERROR)"),
    Key("rejected", "text", "var/rejected/{section}",
        "logger: the folder where refused batches and files are kept with their reason"),
]
USES = ("target", "sleep", "maxiter", "batch", "lease_timeout")
READS_SOURCE = False  # devices and files, no source database: no `source` or `source_tz` key


def validate(cfg: Settings, regime) -> None:
    """What a section may get wrong, caught before any device or database is touched (one line, exit 2)."""
    from .api import Device, Folder, LoggerRegime
    from .paths import check_pattern, pattern
    from .polling import address

    if regime is None:
        return
    if not (isinstance(regime, type) and issubclass(regime, LoggerRegime)):
        raise cfg.error("regime", f'"{cfg.regime}" is not a LoggerRegime (scraper.modes.logger.api)')
    cfg.require("target")
    if not regime.topics:
        raise cfg.error("regime", f'"{cfg.regime}" declares no topics')
    if len(regime.sources) != 1 or not isinstance(regime.sources[0], (Device, Folder)):
        raise cfg.error("regime", f'"{cfg.regime}" must declare one source: a Device or a Folder')
    source = regime.sources[0]
    if isinstance(source, Device):
        cfg.require("device")
        try:
            address(cfg.device, source.protocol)
        except ValueError as exc:
            raise cfg.error("device", str(exc)) from None
        if cfg.sleep.total_seconds() <= 0:
            raise cfg.error("sleep", "must be above 0 for a device: it is the poll period")
    else:
        check_pattern(cfg, pattern(cfg, source))


def status(cfg: Settings, st, now) -> None:
    from .health import section_health

    section_health(cfg, st, now)


def run(cfg: Settings, options: RunOptions):
    from .mode import logger

    return logger(cfg, options)


def offline_note(cfg: Settings) -> str:
    """What `scr.py status` shows of a section whose target does not answer (runtime/status.py)."""
    from .health import offline_note as note

    return note(cfg)
