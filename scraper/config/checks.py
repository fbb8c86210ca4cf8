"""Value checks for config keys, run by configobj's Validator so a key's type is one short string.

A key declares `check = "duration(min=1)"` or `"integer(min=0)"`; configobj's own checks (integer,
float, boolean, option, string) are used as they are, ours add the kinds a DCS operator writes:
durations, source-local times, IANA zones, comma lists of names and aggregate functions. Validator's
messages (`the value "x" is of the wrong type.`) are rewritten into ones that say what to write.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from validate import (ValidateError, Validator, VdtTypeError, VdtValueError, VdtValueTooBigError,
                      VdtValueTooSmallError)

from scraper.core.units import parse_duration, parse_time

# Union over the dialects; scraper/sources/sql/aggregation.py FUNCTIONS says which backend has which.
AGGREGATE_FUNCTIONS = ("avg", "min", "max", "sum", "count", "std", "stddev", "stddev_pop", "stddev_samp",
                       "variance", "var_pop", "var_samp", "total", "bit_and", "bit_or", "bit_xor")
LOGLEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class Problem(VdtValueError):
    """A check's own message, passed through unchanged."""

    def __init__(self, message: str):
        ValidateError.__init__(self, message)


def _scalar(value: Any) -> str:
    return ",".join(value) if isinstance(value, (list, tuple)) else str(value).strip()


def _none(value: Any) -> bool:
    return _scalar(value) in ("", "None")


def _wrap(parse, value: Any):
    try:
        return parse(value)
    except ValueError as exc:
        raise Problem(str(exc)) from None


def duration(value: Any) -> timedelta:
    return _wrap(parse_duration, value if isinstance(value, timedelta) else _scalar(value))


def positive_duration(value: Any) -> timedelta:
    td = duration(value)
    if td <= timedelta(0):
        raise Problem(f'"{_scalar(value)}" is not a positive duration (use 10s, 5m, 1h, 2d, 2w)')
    return td


def time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else _wrap(parse_time, _scalar(value))


def optional_time(value: Any) -> datetime | None:
    return None if _none(value) else time(value)


def finite(value: Any, min: str | None = None) -> float:
    try:
        number = float(_scalar(value))
    except ValueError:
        raise Problem(f'"{_scalar(value)}" is not a number') from None
    if not math.isfinite(number):
        raise Problem(f'"{_scalar(value)}" is not a finite number')
    if min is not None and number < float(min):
        raise Problem(f"{number} is below the minimum {min}")
    return number


def optional_finite(value: Any) -> float | None:
    return None if _none(value) else finite(value)


def probability(value: Any) -> float:
    number = finite(value)
    if not 0.0 <= number <= 1.0:
        raise Problem(f"{number} is not a probability (use a number from 0 to 1, e.g. 0.01)")
    return number


def text(value: Any) -> str:
    return _scalar(value)


def names(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return tuple(i.strip() for i in items if i.strip() and i.strip() != "None")


def aggregates(value: Any) -> tuple[str, ...]:
    found = tuple(n.lower() for n in names(value))
    for name in found:
        if name not in AGGREGATE_FUNCTIONS:
            raise Problem(f'"{name}" is not an aggregate function (use {", ".join(AGGREGATE_FUNCTIONS)})')
    return found


def zone(value: Any) -> str:
    name = _scalar(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Problem(f'"{name}" is not an IANA time zone (e.g. Asia/Shanghai, UTC)') from None
    return name


def loglevel(value: Any) -> str:
    level = _scalar(value).upper()
    if level not in LOGLEVELS:
        raise Problem(f'"{_scalar(value)}" is not a log level ({", ".join(LOGLEVELS)})')
    return level


def choice(value: Any, *options: str) -> str:
    word = _scalar(value)
    if word not in options:
        raise Problem(f'"{word}" is not one of {", ".join(options)}')
    return word


VALIDATOR = Validator({
    "duration": duration, "positive_duration": positive_duration, "time": time, "optional_time": optional_time, "finite": finite,
    "optional_finite": optional_finite, "probability": probability, "text": text, "names": names,
    "aggregates": aggregates, "zone": zone, "loglevel": loglevel, "choice": choice,
})


def check(spec: str, value: Any) -> Any:
    """`value` checked and converted by the Validator check `spec`; ValueError with a readable message."""
    if isinstance(value, bool) and spec.startswith("boolean"):
        return value
    raw = value if isinstance(value, (list, tuple, timedelta, datetime)) else str(value).strip()
    try:
        return VALIDATOR.check(spec, raw)
    except Problem as exc:
        raise ValueError(str(exc)) from None
    except VdtValueTooSmallError:
        raise ValueError(f"{_scalar(value)} is below the minimum {_bound(spec, 'min')}") from None
    except VdtValueTooBigError:
        raise ValueError(f"{_scalar(value)} is above the maximum {_bound(spec, 'max')}") from None
    except VdtTypeError:
        kind = {"integer": "an integer", "float": "a number", "boolean": "a boolean (use True or False)"}
        raise ValueError(f'"{_scalar(value)}" is not {kind.get(spec.split("(")[0], "valid")}') from None
    except ValidateError as exc:
        raise ValueError(str(exc)) from None


def _bound(spec: str, name: str) -> str:
    inside = spec.partition("(")[2].rstrip(")")
    for part in inside.split(","):
        key, _, val = part.partition("=")
        if key.strip() == name:
            return val.strip()
    return "?"
