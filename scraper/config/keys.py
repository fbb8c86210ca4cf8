"""Config keys: each declared once with its check, default and meaning.

`COMMON` keys serve every mode (what runs, where the source is, logging, stop, retries, metrics).
`CATALOGUE` holds keys that several modes share (`interval`, `timefloor`, the aggregate keys, ...):
a mode names the ones it reads in its `USES` and declares the keys only it has in its `KEYS`
(scraper/modes/). So a section is checked against exactly the keys its mode understands.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from scraper.config.checks import check
from scraper.core.units import format_duration, format_time


@dataclass(frozen=True)
class Key:
    """One config key; `check` is a configobj Validator check (see checks.py)."""

    name: str
    check: str
    default: Any
    doc: str

    def parse(self, raw: Any) -> Any:
        return check(self.check, raw)

    def show(self, value: Any) -> str:
        if isinstance(value, timedelta):
            return format_duration(value)
        if isinstance(value, datetime):
            return format_time(value)
        if isinstance(value, tuple):
            return ",".join(value)
        return "" if value is None else str(value)


def keyed(*keys: Key) -> dict[str, Key]:
    return {k.name: k for k in keys}


COMMON = keyed(
    Key("regime", "text", None, "package.module:RegimeClass providing sources, target, scraper and faker"),
    Key("mode", "text", "scraper", "what the section runs (scraper, averager, faker, decimator, bridge, stream, stream_faker, logger)"),
    Key("source", "connection", None, "source DB: SQLAlchemy URL or a ~/.my.cnf section name"),
    Key("source_tz", "zone", "UTC", "IANA zone of the naive source timestamps; the target is always UTC"),
    Key("future_tolerance", "duration", timedelta(minutes=5),
        "entries dated later than now (in source_tz) plus this are not data yet: never read, counted and "
        "logged, read in their place once the clock reaches them"),
    Key("exit_sentinel", "text", "var/PLEASE-EXIT-{section}",
        "file whose appearance stops the section cleanly (exit 0; consumed); {section} is filled in, "
        "relative paths are relative to the config file; empty disables"),
    Key("metrics", "boolean", True, "write self-metrics (lag_s, propagations, ...) to scraper_metrics in the target"),
    Key("metrics_every", "positive_duration", timedelta(minutes=1), "real time between two writes of the metrics"),
    Key("progress_every", "positive_duration", timedelta(seconds=10),
        "real time between two catch-up progress log lines when not on a terminal"),
    Key("backoff_cap", "positive_duration", timedelta(minutes=1),
        "longest wait between two retries while a database is down (backoff doubles from 0.5s)"),
    Key("hang_after", "positive_duration", timedelta(minutes=1),
        "a database that answers nothing for this long is an outage: logged, its connections cut, retried"),
    Key("statement_timeout", "duration", timedelta(hours=1),
        "longest one statement may run (PyMySQL read/write timeout, PostgreSQL statement_timeout); keep it "
        "above the longest legitimate query; 0 = no limit"),
    Key("loglevel", "loglevel", "INFO", "logging level: DEBUG, INFO, WARNING, ERROR"),
)

CATALOGUE = keyed(
    Key("target", "connection", None, "target DB: SQLAlchemy URL or a ~/.my.cnf section name"),
    Key("kls", "table_name", "", "target payload table name (validity table is <kls>Vld); default: the regime's"),
    Key("interval", "positive_duration", timedelta(seconds=10),
        "DB-time quantum: cursor := propagated time + interval (faker: DB time between two entries)"),
    Key("heartbeat", "positive_duration", timedelta(seconds=3), "expected source update period (sleep tuning)"),
    Key("offset", "integer(min=0)", 0, "read every (offset+1)-th source entry; 0 reads all"),
    Key("sleep", "duration", timedelta(seconds=3),
        "initial real-time sleep when no new source entry is found; tuned to ~heartbeat once running"),
    Key("tunesleepmod", "integer(min=1)", 1, "tune sleep after every N-th propagation"),
    Key("maxage", "positive_duration", timedelta(minutes=10), "propagate when sv[-1].t - sv[0].t > maxage"),
    Key("threshold", "finite", 1.0, "number available to changed() and change rules as self.threshold"),
    Key("maxiter", "integer(min=0)", 0, "stop after N samples (faker: N writes); 0 = no limit"),
    Key("timefloor", "time", datetime(2010, 1, 1), "ignore source entries before this source-local time"),
    Key("batch", "integer(min=1)", 1000, "source entries fetched per query when behind (catch-up)"),
    Key("task", "integer(min=0)", 0, "TASK column of the validity records written"),
    Key("aggregate", "aggregates", (), "SQL aggregate functions applied to every source column (docs/aggregation.md)"),
    Key("aggregate_count", "text", "count", "aggd key holding the number of aggregated entries"),
    Key("aggregate_skips", "names", ("id", "date_time"), "source columns not aggregated"),
    Key("aggregate_filter", "text", "", "SQL condition added to the aggregate query (operator-trusted)"),
    Key("aggregate_none", "optional_finite", None, "value replacing None aggregates when no entry matches"),
    Key("lease_timeout", "positive_duration", timedelta(seconds=30),
        "a standby takes the section over when its holder has not renewed the lease for this long "
        "(the holder renews every third of it; docs/operations.md)"),
    Key("production_names", "names", ("offline_db",), "target names that are production: never seeded or dropped"),
    Key("time_view", "boolean", False,
        "keep a view <kls>_time of the payload with TIMESTART/TIMEEND as UTC unix seconds (time, timeend), "
        "so Grafana plots a conditions table like a bridged one"),
)
AGGREGATE_KEYS = ("aggregate", "aggregate_count", "aggregate_skips", "aggregate_filter", "aggregate_none")
# Keys that were renamed: the old name is a one-line error saying the new one (a key left under its old
# name would otherwise be an "unknown key" with no hint, or worse, be kept in a config file that no
# longer means what it says). use_changed_sql named the changed_sql() API that the change rules replaced.
RENAMED = {"use_changed_sql": "skip_in_database"}
