"""One INI file, named sections, every key declared once here with its type, default and meaning.

Effective value of a key = built-in default <- `[DEFAULT]` section <- the run's section <- command line.
Every problem becomes a ConfigError naming file, section and key (see errors.py).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from configobj import ConfigObj, ConfigObjError

from scraper.errors import ConfigError
from scraper.core.units import format_duration, format_time, parse_duration, parse_time

SHARED_SECTION = "DEFAULT"
MODES = ("scraper", "faker", "averager")


def _bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    low = str(text).strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f'"{text}" is not a boolean (use True or False)')


def _int_at_least(low: int) -> Callable[[Any], int]:
    def parse(text: Any) -> int:
        try:
            value = int(str(text).strip())
        except ValueError:
            raise ValueError(f'"{text}" is not an integer') from None
        if value < low:
            raise ValueError(f"{value} is below the minimum {low}")
        return value

    return parse


def _float(text: Any) -> float:
    try:
        return float(str(text).strip())
    except ValueError:
        raise ValueError(f'"{text}" is not a number') from None


def _probability(text: Any) -> float:
    value = _float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{value} is not a probability (use a number from 0 to 1, e.g. 0.01)")
    return value


def _optional_float(text: Any) -> float | None:
    return None if str(text).strip() in ("", "None") else _float(text)


def _optional_time(text: Any) -> datetime | None:
    return None if str(text).strip() in ("", "None") else parse_time(text)


def _text(text: Any) -> str:
    if isinstance(text, (list, tuple)):
        return ",".join(text)
    return str(text).strip()


def _names(text: Any) -> tuple[str, ...]:
    items = text if isinstance(text, (list, tuple)) else str(text).split(",")
    return tuple(i.strip() for i in items if i.strip() and i.strip() != "None")


# Union over the dialects; scraper/aggregation.py FUNCTIONS says which backend has which.
AGGREGATE_FUNCTIONS = ("avg", "min", "max", "sum", "count", "std", "stddev", "stddev_pop", "stddev_samp",
                       "variance", "var_pop", "var_samp", "total", "bit_and", "bit_or", "bit_xor")


def _aggregates(text: Any) -> tuple[str, ...]:
    names = tuple(n.lower() for n in _names(text))
    for name in names:
        if name not in AGGREGATE_FUNCTIONS:
            raise ValueError(f'"{name}" is not an aggregate function (use {", ".join(AGGREGATE_FUNCTIONS)})')
    return names


def _mode(text: Any) -> str:
    value = str(text).strip()
    if value not in MODES:
        raise ValueError(f'"{value}" is not a mode (use one of {", ".join(MODES)})')
    return value


def _zone(text: Any) -> str:
    try:
        ZoneInfo(str(text).strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'"{text}" is not an IANA time zone (e.g. Asia/Shanghai, UTC)') from None
    return str(text).strip()


def _loglevel(text: Any) -> str:
    value = str(text).strip().upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError(f'"{text}" is not a log level (DEBUG, INFO, WARNING, ERROR)')
    return value


@dataclass(frozen=True)
class Key:
    name: str
    parse: Callable[[Any], Any]
    default: Any
    doc: str

    def show(self, value: Any) -> str:
        if isinstance(value, timedelta):
            return format_duration(value)
        if isinstance(value, datetime):
            return format_time(value)
        if isinstance(value, tuple):
            return ",".join(value)
        return "" if value is None else str(value)


_KEYS = [
    Key("regime", _text, None, "package.module:RegimeClass providing sources, target, scraper and faker"),
    Key("mode", _mode, "scraper", "what the section runs: scraper, faker or averager"),
    Key("kls", _text, "", "target payload table name (validity table is <kls>Vld); default: the regime's"),
    Key("source", _text, None, "source DB: SQLAlchemy URL or a ~/.my.cnf section name"),
    Key("target", _text, None, "target DB: SQLAlchemy URL or a ~/.my.cnf section name"),
    Key("source_tz", _zone, "UTC", "IANA zone of the naive source timestamps; the target is always UTC"),
    Key("interval", parse_duration, timedelta(seconds=10), "DB-time quantum: cursor := propagated time + interval"),
    Key("heartbeat", parse_duration, timedelta(seconds=3), "expected source update period (sleep tuning)"),
    Key("offset", _int_at_least(0), 0, "read every (offset+1)-th source entry; 0 reads all"),
    Key("sleep", parse_duration, timedelta(seconds=3),
        "initial real-time sleep when no new source entry is found; tuned to ~heartbeat once running"),
    Key("tunesleepmod", _int_at_least(1), 1, "tune sleep after every N-th propagation"),
    Key("maxage", parse_duration, timedelta(minutes=10), "propagate when sv[-1].t - sv[0].t > maxage"),
    Key("threshold", _float, 1.0, "number available to changed() as self.threshold"),
    Key("maxiter", _int_at_least(0), 0, "stop after N samples (faker: N writes); 0 = no limit"),
    Key("timefloor", parse_time, datetime(2010, 1, 1), "ignore source entries before this source-local time"),
    Key("batch", _int_at_least(1), 1000, "source entries fetched per query when behind (catch-up)"),
    Key("use_changed_sql", _bool, True,
        "let the database skip entries the regime's changed_sql() calls unchanged (same target, far fewer "
        "rows read); False judges every entry in Python"),
    Key("task", _int_at_least(0), 0, "TASK column of the validity records written"),
    Key("aggregate", _aggregates, (), "SQL aggregate functions applied to every source column (docs/aggregation.md)"),
    Key("aggregate_count", _text, "count", "aggd key holding the number of aggregated entries"),
    Key("aggregate_skips", _names, ("id", "date_time"), "source columns not aggregated"),
    Key("aggregate_filter", _text, "", "SQL condition added to the aggregate query (operator-trusted)"),
    Key("aggregate_none", _optional_float, None, "value replacing None aggregates when no entry matches"),
    Key("bin", parse_duration, timedelta(hours=1), "averager: width of the UTC-aligned calendar bins (1h, 1d)"),
    Key("territory", parse_duration, timedelta(days=1),
        "averager: DB time covered by one grouped query and one transaction (a multiple of bin)"),
    Key("seed_target_tables", _bool, False, "plant a seed validity record in an empty target"),
    Key("seed_timestart", _optional_time, None, "TIMESTART of the seed record (source-local)"),
    Key("seed_timeend", _optional_time, None, "TIMEEND of the seed record (source-local); scraping resumes here"),
    Key("production_names", _names, ("offline_db",), "target names that are production: never seeded or dropped"),
    Key("faker_timestart", parse_time, datetime(2011, 2, 1), "date_time of the first fake entry (source-local)"),
    Key("faker_dropsrc", _bool, False, "faker: drop and recreate the fake source tables first"),
    Key("profile", _text, "modulo_ramp", "faker value profile: modulo_ramp, constant, step, random_walk, sine"),
    Key("faker_ddl", _text, "", "faker: no-data mysqldump file whose CREATE TABLEs make the fake source (MariaDB)"),
    Key("profile_seed", _int_at_least(0), 1, "faker: seed of random_walk and of the realism options"),
    Key("step_every", parse_duration, timedelta(hours=1), "profile step: DB time between two steps"),
    Key("step_size", _float, 1.0, "profile step: size of each step"),
    Key("walk_step", _float, 0.1, "profile random_walk: standard deviation of one step per entry"),
    Key("sine_period", parse_duration, timedelta(days=1), "profile sine: period of the swing"),
    Key("sine_amplitude", _float, 2.0, "profile sine: amplitude of the swing"),
    Key("faker_duplicates", _probability, 0.0, "faker: probability that an entry is re-inserted (same date_time)"),
    Key("faker_gaps", _probability, 0.0, "faker: probability that the source falls silent after an entry"),
    Key("faker_gap", parse_duration, timedelta(minutes=10), "faker: how long (DB time) a gap lasts"),
    Key("faker_badquality", _probability, 0.0, "faker: probability of Quality = 0 (tables with a Quality column)"),
    Key("faker_late", _probability, 0.0, "faker: probability that an entry is committed late (behind newer ones)"),
    Key("faker_late_by", _int_at_least(1), 5, "faker: a late entry is committed after this many newer entries"),
    Key("exit_sentinel", _text, "var/PLEASE-EXIT-{section}",
        "file whose appearance stops the section cleanly (exit 0; consumed); {section} is filled in, "
        "relative paths are relative to the config file; empty disables"),
    Key("metrics", _bool, True, "write self-metrics (lag_s, propagations, ...) to scraper_metrics in the target"),
    Key("metrics_every", parse_duration, timedelta(minutes=1), "real time between two writes of the metrics"),
    Key("progress_every", parse_duration, timedelta(seconds=10),
        "real time between two catch-up progress log lines when not on a terminal"),
    Key("backoff_cap", parse_duration, timedelta(minutes=1),
        "longest wait between two retries while a database is down (backoff doubles from 0.5s)"),
    Key("loglevel", _loglevel, "INFO", "logging level: DEBUG, INFO, WARNING, ERROR"),
]
KEYS: dict[str, Key] = {k.name: k for k in _KEYS}


class Settings:
    """Effective settings of one section; attribute access (`cfg.maxage`) plus provenance for --help."""

    def __init__(self, path: str, section: str, values: dict[str, Any], origin: dict[str, str]):
        self.path, self.section = path, section
        self._values, self._origin = values, origin

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def origin(self, name: str) -> str:
        return self._origin[name]

    def error(self, key: str | None, message: str) -> ConfigError:
        return ConfigError(self.path, self.section, key, message)

    @property
    def base_dir(self) -> Path:
        return Path(self.path).resolve().parent

    def require(self, *names: str) -> None:
        for name in names:
            if self._values.get(name) in (None, ""):
                raise self.error(name, f"is required for mode {self.mode}")

    def describe(self) -> str:
        """What `scr.py -s SECTION --help` prints: every key, its effective value and its default."""
        rows = [(k.name, k.show(self._values[k.name]), k.show(k.default), self._origin[k.name]) for k in _KEYS]
        # Columns as wide as their longest cell: a long URL must not push "set in" out of line.
        w = [max(len(r[i]) for r in rows + [("key", "value", "default", "")]) for i in range(3)]
        lines = [f"# effective settings of [{self.section}] from {self.path}",
                 f"{'key':<{w[0]}}  {'value':<{w[1]}}  {'default':<{w[2]}}  set in"]
        lines += [f"{n:<{w[0]}}  {v:<{w[1]}}  {d:<{w[2]}}  {o}" for n, v, d, o in rows]
        return "\n".join(lines)


def config_path(cli_path: str | None) -> str:
    """--cfg wins, then $SCRAPER_CFG, then ./scraper.cfg."""
    return cli_path or os.environ.get("SCRAPER_CFG") or "scraper.cfg"


def read_config(path: str) -> ConfigObj:
    if not os.path.exists(path):
        raise ConfigError(path, None, None, "config file not found (use --cfg PATH or set SCRAPER_CFG)")
    if os.path.isdir(path):
        raise ConfigError(path, None, None, "is a directory, not a config file (use --cfg PATH)")
    try:
        return ConfigObj(path, file_error=True, raise_errors=True, list_values=True, interpolation=False)
    except (ConfigObjError, OSError) as exc:
        raise ConfigError(path, None, None, f"cannot parse: {exc}") from None


def sections(path: str) -> list[str]:
    return [name for name in read_config(path).sections if name != SHARED_SECTION]


def load(path: str, section: str, overrides: dict[str, Any] | None = None) -> Settings:
    """Validated settings of one section; raises ConfigError on the first problem found."""
    cfg = read_config(path)
    if section == SHARED_SECTION:
        raise ConfigError(path, section, None, "holds keys shared by every section; run one of: "
                          + (", ".join(sections(path)) or "none"))
    if section not in cfg.sections:
        known = ", ".join(sections(path)) or "none"
        raise ConfigError(path, section, None, f"no such section (sections: {known})")
    layers = [
        ("[DEFAULT]", SHARED_SECTION, dict(cfg.get(SHARED_SECTION, {}))),
        (f"[{section}]", section, dict(cfg[section])),
        ("command line", section, dict(overrides or {})),
    ]
    values = {k.name: k.default for k in _KEYS}
    origin = {k.name: "default" for k in _KEYS}
    for label, where, layer in layers:
        for name, raw in layer.items():
            if isinstance(raw, dict):
                raise ConfigError(path, where, name, "nested sections are not supported")
            key = KEYS.get(name)
            if key is None:
                raise ConfigError(path, where, name, "unknown key (see docs/config.md)")
            try:
                values[name] = key.parse(raw)
            except ValueError as exc:
                raise ConfigError(path, where, name, str(exc)) from None
            origin[name] = label
    settings = Settings(path, section, values, origin)
    settings.require("regime", "source")
    return settings
