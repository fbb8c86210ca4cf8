"""The times an operator types after --at, --from and --to: UTC unless --local (the source's wall clock,
like timefloor), checked before any database is touched."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from scraper.config import Settings
from scraper.core.timezones import Clock
from scraper.core.units import parse_time


@dataclass(frozen=True)
class Window:
    """A closed range of UTC times, start <= end."""

    start: datetime
    end: datetime

    @property
    def days(self) -> float:
        return (self.end - self.start) / timedelta(days=1)


def when(cfg: Settings, flag: str, text: str | None, local: bool = False) -> datetime:
    """The UTC time `text` names; a missing or malformed one is a one-line error naming the flag."""
    if not text:
        raise cfg.error(flag, "is required (a time such as 2011-02-01 06:00:00, UTC unless --local)")
    try:
        value = parse_time(text)
    except ValueError as exc:
        raise cfg.error(flag, str(exc)) from None
    return Clock(cfg.source_tz).to_utc(value) if local else value


def window(cfg: Settings, start: str | None, end: str | None, local: bool = False) -> Window:
    first, last = when(cfg, "--from", start, local), when(cfg, "--to", end, local)
    if first > last:
        raise cfg.error("--from", f"{first:%Y-%m-%d %H:%M:%S} is after --to {last:%Y-%m-%d %H:%M:%S}")
    return Window(first, last)
