"""Where a bridge section writes: `target` must name a SQLite file (default var/grafana/live.db).

Checked before any database is opened, so an operator mistake (a MariaDB URL, Grafana's own
grafana.db, a directory SQLite cannot create its -wal file in, a group that does not exist) ends the
run with one line and nothing written.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from scraper.config import Settings
from scraper.config.checks import without_secrets
from scraper.targets.timeseries import check_path

DEFAULT_TARGET = "sqlite:///var/grafana/live.db"


def path(cfg: Settings) -> Path:
    """The bridged file; a relative path is relative to the config file, like every SQLite URL."""
    text = cfg.target or DEFAULT_TARGET
    if "://" not in text:
        raise cfg.error("target", f'"{text}": mode bridge writes a SQLite file for Grafana: use sqlite:///PATH')
    try:
        url = make_url(text)
    except ArgumentError:
        raise cfg.error("target", f'"{text}" is not a SQLAlchemy URL') from None
    if url.get_backend_name() != "sqlite":
        raise cfg.error("target", f'"{without_secrets(url.render_as_string(hide_password=True))}" is not SQLite: mode bridge '
                                  "writes a SQLite file for Grafana (e.g. sqlite:///var/grafana/live.db)")
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise cfg.error("target", f'"{text}" names no file: use sqlite:///PATH')
    p = Path(url.database)
    return p if p.is_absolute() else cfg.base_dir / p


def check(cfg: Settings, target: Path) -> None:
    problems = check_path(target, cfg.group or None)
    if problems:
        key, message = problems[0]
        raise cfg.error(key, message)
