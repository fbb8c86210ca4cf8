"""`scr.py status`: one row per section of the config, read from the databases, never from the processes.

Because the target is the bookmark (docs/concepts.md, resuming), the target alone says how far each scraper has got and when it
last wrote — so status works the same whether the scrapers run under supervisord, by hand, or not at
all, and needs no side channel. Reads only: safe while scrapers run (SQLite WAL, InnoDB MVCC).

Health, from the most to the least severe (`slack` = maxage, or bin for an averager, plus two
effective heartbeats `2 * heartbeat * (offset + 1)`):

* ERROR     — the section cannot be evaluated: bad config, database unreachable;
* STALE     — nothing written for longer than `slack` of real time (scraper down, or the source
              stopped), or its tables exist but nothing was written into them yet;
* LAGGING   — written recently, but the newest validity ends more than `slack` of DB time behind the
              source's latest entry (catching up, or too slow);
* WARNING   — on time, but the source holds entries the section does not read: dated ahead of the
              clock (not yet), or before timefloor / without a time (never); runtime/unread.py;
* NEVER RUN — what a first run creates is not there (the section's target tables, a bridged file, a
              decimator's cursor): a section of the config nobody started, which is not a fault;
* OK        — otherwise.

A section whose last run ended on an error (its last metrics say `failed`) is ERROR, whatever else.
HEALTHY is what exits 0: a monitor alarms on exit 1 (a section running badly), not on sections that a
shared config names but this host never runs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from scraper import config, modes
from scraper import db
from scraper.runtime import answering, lease, metrics, unread
from scraper.runtime.standbys import standbys
from scraper.config import Settings
from scraper.errors import OperatorError
from scraper.config.plugins import load_regime
from scraper.core.timezones import Clock
from scraper.core.wallclock import Bound
from scraper.core.tuning import human
from scraper.targets.dbi import utcnow

HEALTH_ORDER = ("OK", "NEVER RUN", "WARNING", "LAGGING", "STALE", "ERROR")
HEALTHY = ("OK", "NEVER RUN", "-")  # "-": a faker, which has no health


@dataclass
class SectionStatus:
    section: str
    mode: str = "?"
    last_validity: datetime | None = None  # UTC, TIMEEND of the slowest source's newest record
    lag: timedelta | None = None  # DB time: source latest - that TIMEEND
    last_write_age: timedelta | None = None  # real time since the newest INSERTDATE
    health: str = "-"
    note: str = ""
    failed: str = ""  # the last run ended on an error (from its metrics): what to say, else ''



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
        if cfg.mode != "faker" and "source" in modes.mode(cfg.mode).keys:  # a stream or logger reads no table
            _untrusted(cfg, st)
        if st.health != "NEVER RUN":  # a first run creates the database file a lease lives in
            held = lease_note(cfg, now)  # who writes it: HOLDER host:pid (runtime/lease.py)
            st.note = "; ".join(n for n in (held, st.note) if n)
    except OperatorError as exc:
        st.health, st.note = "ERROR", str(exc)
    except sa.exc.SQLAlchemyError as exc:
        st.health, st.note = "ERROR", str(getattr(exc, "orig", exc)).splitlines()[0]
    return st


def _untrusted(cfg: Settings, st: SectionStatus) -> None:
    """Entries the section will not read (runtime/unread.py), and a last run that ended on an error:
    neither is OK, however recently the section wrote."""
    said = unread.note(cfg)
    if said:
        st.note = f"{said}; {st.note}" if st.note else said
        if st.health == "OK":
            st.health = "WARNING"
    if st.failed:
        st.health, st.note = "ERROR", f"{st.failed}; {st.note}" if st.note else st.failed


def _source_latest(cfg: Settings, engine: sa.Engine, tables: list[str], column: str = "date_time") -> datetime | None:
    """Newest source entry over `tables` (time in `column`) that is data now (not dated beyond now +
    future_tolerance), converted to UTC."""
    newest, bound = None, Bound.of(cfg)()
    with engine.connect() as conn:
        for name in tables:
            t = db.source_table(engine, name, cfg)
            value = conn.execute(sa.select(sa.func.max(t.c[column])).where(t.c[column] <= bound)).scalar()
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
            st.health, st.note = "NEVER RUN", f"no table {kls}Vld yet (a first run: --ALLOW_DROP_CREATE_TABLE)"
            return
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
    st.failed = metrics.failed(newest_metrics)
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
    """One SectionStatus per section of the config file, in file order, within 10 s whatever the
    servers do (runtime/answering.py): a database that does not answer is shown as such."""
    started = time.monotonic()
    names = config.sections(path)
    silent = answering.silent_databases(path, names)

    def one(name: str) -> SectionStatus:
        if name in silent:
            mode, why = silent[name]
            local = getattr(modes.mode(mode).module, "offline_note", None)  # what it knows without a database
            said = local(modes.settings(path, name)) if local is not None else ""
            return SectionStatus(name, mode, health="ERROR", note=f"{said}; {why}" if said else why)
        return section_status(path, name, now)

    def late(name: str) -> SectionStatus:
        return SectionStatus(name, health="ERROR", note=f"no answer from its databases within "
                             f"{answering.DEADLINE_S:.0f}s (a server stopped or unreachable?)")

    rows = answering.side_by_side(names, one, answering.DEADLINE_S - (time.monotonic() - started), late)
    return [rows[name] for name in names]


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


def lease_note(cfg: Settings, now: datetime) -> str:
    """`scr.py status`: who holds the section, from the lease row in the database it writes ('' when
    the section never took a lease there: a faker, or never run since leases exist)."""
    which = "source" if cfg.mode == "decimator" else "target"  # the decimator thins its source in place
    lease_timeout = cfg.get("lease_timeout")  # None: a mode that takes no lease (stream)
    if cfg.mode == "faker" or not cfg.get(which) or lease_timeout is None:
        return ""
    timeout = lease_timeout.total_seconds()
    engine = db.connect(cfg, which)
    try:
        row = lease.holder(engine, cfg.section)
        waiting = standbys(engine, cfg.section, now, timeout, lease.gone) if row is not None else []
    finally:
        engine.dispose()
    if row is None:
        return ""
    ago = max((now - row.renewed).total_seconds(), 0.0)
    if row.free:
        held = f"no HOLDER (released {ago:.0f}s ago, epoch {row.epoch})"
    else:
        late = f"; not renewed for {ago:.0f}s: a STANDBY takes over" if ago > timeout else ""
        held = f"HOLDER {row.holder} (epoch {row.epoch}, renewed {ago:.0f}s ago{late})"
    return "; ".join([held] + [f"STANDBY {w.name} (waiting {max((now - w.since).total_seconds(), 0.0):.0f}s)"
                               for w in waiting if w.name != row.holder])
