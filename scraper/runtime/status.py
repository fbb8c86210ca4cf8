"""`scr.py status`: one row per section of the config, read from the databases, never from the processes.

Because the target is the bookmark (docs/concepts.md, resuming), the target alone says how far each scraper has got and when it
last wrote — so status works the same whether the scrapers run under supervisord, by hand, or not at
all, and needs no side channel. Reads only: safe while scrapers run (SQLite WAL, InnoDB MVCC).

Health, from the most to the least severe (`slack` = maxage, or bin for an averager, plus two
effective heartbeats `2 * heartbeat * (offset + 1)`):

* ERROR   — the section cannot be evaluated: bad config, database unreachable, target tables missing;
* STALE   — nothing written for longer than `slack` of real time (scraper down, or the source stopped),
            or nothing written yet at all;
* LAGGING — written recently, but the newest validity ends more than `slack` of DB time behind the
            source's latest entry (catching up, or too slow);
* OK      — otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from scraper import config, modes
from scraper import db
from scraper.runtime import metrics
from scraper.config import Settings
from scraper.errors import OperatorError
from scraper.config.plugins import load_regime
from scraper.core.timezones import Clock
from scraper.core.tuning import human
from scraper.targets.dbi import utcnow

HEALTH_ORDER = ("OK", "LAGGING", "STALE", "ERROR")


@dataclass
class SectionStatus:
    section: str
    mode: str = "?"
    last_validity: datetime | None = None  # UTC, TIMEEND of the slowest source's newest record
    lag: timedelta | None = None  # DB time: source latest - that TIMEEND
    last_write_age: timedelta | None = None  # real time since the newest INSERTDATE
    health: str = "-"
    note: str = ""


def section_status(path: str, section: str, now: datetime | None = None) -> SectionStatus:
    now = now or utcnow()
    st = SectionStatus(section)
    try:
        cfg = modes.settings(path, section)
        st.mode = cfg.mode
        own = getattr(modes.mode(cfg.mode).module, "status", None)  # a mode may say how it is doing itself
        if own is not None:
            own(cfg, st, now)
        elif cfg.mode == "faker":
            _faker(cfg, st)
        else:
            _scraper(cfg, st, now)
    except OperatorError as exc:
        st.health, st.note = "ERROR", str(exc)
    except sa.exc.SQLAlchemyError as exc:
        st.health, st.note = "ERROR", str(getattr(exc, "orig", exc)).splitlines()[0]
    return st


def _source_latest(cfg: Settings, engine: sa.Engine, tables: list[str], column: str = "date_time") -> datetime | None:
    """Newest source entry over `tables` (time in `column`), converted to UTC."""
    newest = None
    with engine.connect() as conn:
        for name in tables:
            t = db.source_table(engine, name, cfg)
            value = conn.execute(sa.select(sa.func.max(t.c[column]))).scalar()
            if value is not None and (newest is None or value > newest):
                newest = value
    return Clock(cfg.source_tz).to_utc(newest) if newest is not None else None


def _faker(cfg: Settings, st: SectionStatus) -> None:
    regime = load_regime(cfg, need_target=False)
    if hasattr(regime, "fake_file"):  # a logger regime's faker writes result files into a folder
        st.note = f"writes result files into {cfg.source}"
        return
    names = [t.name for t in regime.faker.tables] or [s.table for s in regime.sources]
    engine = db.connect(cfg, "source", readonly=True)
    try:
        latest = _source_latest(cfg, engine, names[:1], regime.faker.time_column)
    finally:
        engine.dispose()
    st.note = f"writes {', '.join(names[:2])}{' ...' if len(names) > 2 else ''}; newest entry " + (
        f"{latest:%Y-%m-%d %H:%M:%S} UTC" if latest else "none")


def _scraper(cfg: Settings, st: SectionStatus, now: datetime) -> None:
    cfg.require("target")
    regime = load_regime(cfg)
    kls = cfg.kls or regime.target.kls
    source = db.connect(cfg, "source", readonly=True)
    target = db.connect(cfg, "target")
    try:
        if not db.table_exists(target, f"{kls}Vld"):
            raise cfg.error("kls", f"target has no table {kls}Vld (never run? start with --ALLOW_DROP_CREATE_TABLE)")
        vld = db.reflect(target, f"{kls}Vld", cfg, "kls")
        ends, writes, lags = [], [], []
        with target.connect() as conn:
            for src in regime.sources:
                row = conn.execute(
                    sa.select(sa.func.max(vld.c.TIMEEND), sa.func.max(vld.c.INSERTDATE))
                    .where(vld.c.SITEMASK == src.sitemask, vld.c.SUBSITE == src.subsite,
                           vld.c.SIMMASK == src.simmask, vld.c.TASK == cfg.task)).first()
                if row is None or row[0] is None:
                    continue
                ends.append(row[0])
                writes.append(row[1])
                latest = _source_latest(cfg, source, [src.table])
                if latest is not None:
                    lags.append(max(latest - row[0], timedelta(0)))
        newest_metrics = metrics.latest(target, cfg.section)
    finally:
        source.dispose()
        target.dispose()
    window = getattr(cfg, "bin", None) if cfg.mode == "averager" else cfg.maxage
    slack = (window or cfg.maxage) + 2 * cfg.heartbeat * (cfg.offset + 1)
    if newest_metrics:
        parts = [f"{name} {value:g}" for name, (_, value) in sorted(newest_metrics.items())
                 if name in ("lag_s", "errors") and value is not None]
        when = max(t for t, _ in newest_metrics.values())
        st.note = f"metrics {_ago(now - when)}: {', '.join(parts)}"
    if not ends:
        st.health = "STALE"
        st.note = "no validity record yet" + (f"; {st.note}" if st.note else "")
        return
    st.last_validity = min(ends)
    st.lag = max(lags) if lags else None
    st.last_write_age = max(now - max(writes), timedelta(0))
    if st.last_write_age > slack:
        st.health = "STALE"
    elif st.lag is not None and st.lag > slack:
        st.health = "LAGGING"
    else:
        st.health = "OK"


def status(path: str, now: datetime | None = None) -> list[SectionStatus]:
    """One SectionStatus per section of the config file, in file order."""
    return [section_status(path, name, now) for name in config.sections(path)]


def _ago(td: timedelta) -> str:
    return f"{human(timedelta(seconds=round(max(td.total_seconds(), 0))))} ago"


def table(rows: list[SectionStatus]) -> str:
    """Fixed-width text table for a terminal or a cron mail."""
    head = ("SECTION", "MODE", "LAST VALIDITY (UTC)", "LAG", "LAST WRITE", "HEALTH", "NOTE")
    body = [(r.section, r.mode, f"{r.last_validity:%Y-%m-%d %H:%M:%S}" if r.last_validity else "-",
             human(r.lag) if r.lag is not None else "-",
             _ago(r.last_write_age) if r.last_write_age is not None else "-", r.health, r.note)
            for r in rows]
    widths = [max(len(str(line[i])) for line in [head, *body]) for i in range(len(head) - 1)]
    out = []
    for line in [head, *body]:
        out.append("  ".join(str(v).ljust(w) for v, w in zip(line, widths)) + "  " + line[-1])
    return "\n".join(s.rstrip() for s in out)
