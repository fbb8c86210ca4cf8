"""mode = bridge: a Grafana-ready SQLite copy of the DCS data, live and backfilled, that never gaps.

mode.py runs the rounds (a Job of the mode-neutral runner), feed.py reads a source after its
bookmark, layout.py derives the tables from the regime, target.py checks where they go, migrate.py
and backup.py are the `scr.py migrate` and `scr.py backup` verbs; the SQLite writer is
scraper/targets/timeseries.py. docs/bridge.md is the operator's guide.
"""
from __future__ import annotations

from datetime import timedelta

from scraper.config import Settings
from scraper.config.keys import Key
from scraper.runtime.runner import RunOptions

KEYS = [
    Key("wal_autocheckpoint", "integer(min=0)", 1000,
        "bridge: WAL pages after which SQLite checkpoints the bridged file; 0 disables automatic checkpoints"),
    Key("busy_timeout", "positive_duration", timedelta(seconds=60),
        "bridge: how long a write waits for a lock held by a reader's checkpoint or another writer"),
    Key("group", "text", "", "bridge: group owning the bridged file and directory (e.g. grafana); empty: unchanged"),
]
USES = ("target", "timefloor", "sleep", "maxiter", "batch", "lease_timeout")


def validate(cfg: Settings, regime) -> None:
    """Where the file goes, checked before any database is touched (one line, exit 2)."""
    from . import target

    target.check(cfg, target.path(cfg))


def status(cfg: Settings, st, now) -> None:
    """`scr.py status` for a bridge section: read from the bridged file and the source, never written."""
    from .health import section_health

    section_health(cfg, st, now)


def run(cfg: Settings, options: RunOptions):
    from .mode import bridge

    return bridge(cfg, options)
