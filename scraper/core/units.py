"""Parsing of the two value kinds operators type most: durations and source-local times."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from dateutil import parser as dateparser

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_HINT = "use 10s, 5m, 1h, 2d, 2w or plain seconds"


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """`10s`, `3m`, `1h`, `2d`, `2w` or plain seconds; a ValueError says what is accepted."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, (int, float)):
        return timedelta(seconds=text)
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f'"{text}" is not a duration ({DURATION_HINT})')
    return timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])


def format_duration(td: timedelta) -> str:
    """Shortest exact spelling, so `--help` shows values the way operators write them."""
    secs = td.total_seconds()
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if secs and secs % size == 0:
            return f"{int(secs // size)}{unit}"
    # Not `:g`: it switches to exponent notation (3.45601e+06s), which parse_duration rightly refuses.
    return f"{int(secs)}s" if secs == int(secs) else f"{secs:f}".rstrip("0") + "s"


def parse_time(text: str | datetime) -> datetime:
    """A naive wall-clock time in the source's zone, e.g. `2011-02-01 00:00:00`."""
    if isinstance(text, datetime):
        return text
    try:
        value = dateparser.isoparse(str(text).strip())
    except (ValueError, OverflowError):
        raise ValueError(f'"{text}" is not a time (use 2011-02-01 00:00:00)') from None
    if value.tzinfo is not None:
        raise ValueError(f'"{text}" carries a zone; give source-local wall-clock time (see source_tz)')
    return value


def format_time(value: datetime) -> str:
    return value.isoformat(sep=" ")
