"""Value checks for config keys, run by configobj's Validator so a key's type is one short string.

A key declares `check = "duration(min=1)"` or `"integer(min=0)"`; configobj's own checks (integer,
float, boolean, option, string) are used as they are, ours add the kinds a DCS operator writes:
durations, source-local times, IANA zones, comma lists of names and aggregate functions. Validator's
messages (`the value "x" is of the wrong type.`) are rewritten into ones that say what to write.
"""
from __future__ import annotations

import math
import re
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
    t = value if isinstance(value, datetime) else _wrap(parse_time, _scalar(value))
    if not 1900 <= t.year <= 9000:  # converting 0001-01-01 to UTC overflows; no DCS entry is that old
        raise Problem(f'"{_scalar(value)}" is outside the years 1900 to 9000')
    return t


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


# Query keys the drivers take a password from (PyMySQL `passwd`, libpq `password`): as secret as user info.
SECRET_QUERY_KEYS = ("password", "passwd")
_SECRETS = re.compile(r"(://[^/?#@:]*:)[^/?#@]*(@)|((?:^|[?&;])(?:%s)=)[^&;#]*" % "|".join(SECRET_QUERY_KEYS),
                      re.IGNORECASE)


def without_secrets(text: str) -> str:
    """`text` (a URL, or something meant to be one) with any password replaced by ***, for messages."""
    return _SECRETS.sub(lambda m: f"{m[1]}***{m[2]}" if m[1] else f"{m[3]}***", text)


def connection(value: Any) -> str:
    """A SQLAlchemy URL (of a dialect installed here, without a password) or a ~/.my.cnf section name."""
    text = _scalar(value)
    if "://" not in text:
        return text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(text)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise Problem(f'"{without_secrets(text)}" is not a SQLAlchemy URL') from None
    if url.password is not None or any(k.lower() in SECRET_QUERY_KEYS for k in url.query):
        where = "~/.pgpass" if url.get_backend_name().startswith("postgres") else \
            "~/.my.cnf (a section with user, password, database, socket; then name that section here)"
        raise Problem(f"holds a password: passwords never go into the config file; put it in {where}")
    try:
        url.get_dialect()
    except NoSuchModuleError:
        raise Problem(f'"{url.drivername}" is not a database driver installed here (e.g. sqlite, '
                      "mysql+pymysql, postgresql+psycopg)") from None
    return text


KLS = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,60}")
RESERVED_TABLES = ("LOCALSEQNO", "scraper_metrics")


def table_name(value: Any) -> str:
    """A target table name the DBI tables can be made from: `<kls>` and `<kls>Vld`."""
    name = _scalar(value)
    if name in ("", "None"):
        return ""
    if not KLS.fullmatch(name):
        raise Problem(f'"{name}" is not a table name (letters, digits and _, at most 61, not starting with a digit)')
    if name.lower() in (t.lower() for t in RESERVED_TABLES) or name.lower().startswith("sqlite_"):
        raise Problem(f'"{name}" is a table the scraper or the database itself uses: choose another kls')
    return name


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
    "aggregates": aggregates, "zone": zone, "connection": connection, "table_name": table_name, "loglevel": loglevel, "choice": choice,
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
