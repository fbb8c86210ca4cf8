"""Connections and reflection; what differs between SQLite, MariaDB/MySQL and PostgreSQL is in
dialects.py (one class per dialect).

`source`/`target` are either a SQLAlchemy URL or the name of a `~/.my.cnf` section, so that passwords
live only in the operator's my.cnf, never in scraper.cfg.
"""
from __future__ import annotations

import configparser
import logging
import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import URL, Engine, make_url
from typing import Any, Callable

from sqlalchemy.exc import ArgumentError, NoSuchModuleError, NoSuchTableError

from scraper.config import Settings
from scraper.config.checks import without_secrets
from scraper.db import cancel, dialects, limits

# DATETIME(6) on MariaDB keeps sub-second DCS stamps (10 Hz monitors); SQLite stores ISO text anyway.
DateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
# How long SQLite itself waits for another process's write lock. Longer waits are an outage for the
# retrier (logged once, backoff, ends at once on a stop): SQLite's own wait cannot be interrupted, so
# this bounds how long a stop can be held back by a lock.
SQLITE_BUSY_S = 5


def mycnf_path() -> Path:
    return Path(os.environ.get("SCRAPER_MYCNF", Path.home() / ".my.cnf"))


def url_from_mycnf(name: str) -> URL:
    """Build a PyMySQL URL from `[name]` of ~/.my.cnf (host, user, password, database, socket, port)."""
    path = mycnf_path()
    parser = configparser.ConfigParser(allow_no_value=True, interpolation=None, strict=False)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise LookupError(f'"{name}" is neither a SQLAlchemy URL nor readable in {path} (file missing)') from None
    except UnicodeDecodeError as exc:
        raise LookupError(f'"{name}": {path} is not UTF-8 text (byte {exc.start}: {exc.reason})') from None
    # `!include`/`!includedir` lines are MySQL client directives configparser cannot read; they are
    # skipped (not followed): the section named in scraper.cfg must be in this file itself.
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("!"))
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:  # a hand-edited my.cnf is an operator's file, not our bug
        reason = str(exc).splitlines()[0]
        raise LookupError(f'"{name}": cannot read {path}: {reason}') from None
    if not parser.has_section(name):
        raise LookupError(f'"{name}" is neither a SQLAlchemy URL nor a section of {path}')
    sec = parser[name]

    def opt(key: str) -> str:
        return (sec.get(key) or "").strip("\"'")

    query = {"charset": "utf8mb4"}
    if opt("socket"):
        query["unix_socket"] = opt("socket")
    port = opt("port")
    if port and not port.isdigit():
        raise LookupError(f'section [{name}] of {path}: port "{port}" is not a number')
    return URL.create(
        "mysql+pymysql",
        username=opt("user") or None,
        password=opt("password") or None,
        host=opt("host") or "localhost",
        port=int(port) if port else None,
        database=opt("database") or None,
        query=query,
    )


def resolve_url(cfg: Settings, key: str) -> URL:
    """A URL object for `source`/`target`; relative SQLite paths are relative to the config file."""
    text = getattr(cfg, key)
    if "://" not in text:
        try:
            return url_from_mycnf(text)
        except LookupError as exc:
            raise cfg.error(key, str(exc)) from None
    try:
        url = make_url(text)
    except ArgumentError:
        raise cfg.error(key, f'"{without_secrets(text)}" is not a SQLAlchemy URL') from None
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        db = Path(url.database)
        if not db.is_absolute():
            url = url.set(database=str(cfg.base_dir / db))
    return url


def show(url: URL) -> str:
    """A URL for messages: a password never shows, whether in user info or in the query."""
    return without_secrets(url.render_as_string(hide_password=True))


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def locate(cfg: Settings, key: str, create: bool = False, missing: str = "") -> URL:
    """The URL of `key`, checked as far as that needs no connection (and creates nothing): a ~/.my.cnf
    section that exists, a SQLite file that exists (or may be created) and is no directory. `missing`:
    what the operator can do about a SQLite file that does not exist (said in the error)."""
    url = resolve_url(cfg, key)
    if url.get_backend_name() == "sqlite":
        path = url.database
        if path and path != ":memory:":
            if not Path(path).exists():
                if not create:
                    raise cfg.error(key, f"database file {path} does not exist" + (f" ({missing})" if missing else ""))
            elif Path(path).is_dir():
                raise cfg.error(key, f"{path} is a directory, not a database file")
    return url


def connect(cfg: Settings, key: str, *, writer: bool = False, create: bool = False,
            retry: Callable[..., Any] | None = None, readonly: bool = False) -> Engine:
    """An engine that has proven it can connect. `writer` engines take SQLite's write lock at BEGIN so
    two writers serialize instead of failing on lock upgrade; `create` allows a new SQLite file;
    `readonly` (a scraper's source) opens SQLite read-only and leaves its journal mode alone.

    `retry(key, fn)` (a run's Runner.startup) waits out an outage at start-up — the database may come
    up after the scraper — and turns a mistake into one line; without it (scr.py status) either is
    one line at once. The probe reads the schema, so a file that is not a database is caught here."""
    from scraper.runtime.retry import MISTAKE, classify, mistake, reason  # runtime builds on db

    url = locate(cfg, key, create)
    if url.get_backend_name() == "sqlite":
        path = url.database
        if path and path != ":memory:" and not Path(path).exists():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if readonly:
            url = dialects.SQLiteImpl.readonly_url(url)
        engine = _create(cfg, key, url, connect_args={"timeout": SQLITE_BUSY_S})
        _sqlite_setup(engine, writer, readonly)
        probe = "SELECT count(*) FROM sqlite_master"
    else:
        engine = _create(cfg, key, url, pool_pre_ping=True, pool_recycle=3600, isolation_level="READ COMMITTED",
                         connect_args=limits.connect_args(url, cfg.get("statement_timeout")))
        probe = "SELECT 1"
    cancel.track(engine)
    limits.watch(engine, key)

    def check() -> None:
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(probe))
        except sa.exc.DBAPIError as exc:
            if classify(exc) == MISTAKE:
                engine.dispose()
                raise cfg.error(key, f"cannot connect to {show(url)}: {mistake(exc)}") from None
            raise

    try:
        if retry is not None:
            retry(key, check)
        else:
            check()
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        raise cfg.error(key, f"cannot connect to {show(url)}: {reason(exc)}") from None
    except BaseException:
        engine.dispose()
        raise
    return engine


class _PoolOutages(logging.Filter):
    """SQLAlchemy's pool logs `Exception during reset or similar` (and failed closes) with a full
    traceback when a connection it hands back died with the server. During an outage that is expected:
    the retrier reports it once (runtime/retry.py), so these records are dropped; anything else the
    pool logs is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        from scraper.runtime.retry import OUTAGE, classify

        exc = record.exc_info[1] if record.exc_info else None
        return exc is None or classify(exc) != OUTAGE


def quiet_pool_outages() -> None:
    """Install _PoolOutages on the logger of every pool class (idempotent)."""
    for cls in (sa.pool.QueuePool, sa.pool.NullPool, sa.pool.SingletonThreadPool, sa.pool.StaticPool,
                sa.pool.AssertionPool):
        logger = logging.getLogger(f"{cls.__module__}.{cls.__name__}")
        if not any(isinstance(f, _PoolOutages) for f in logger.filters):
            logger.addFilter(_PoolOutages())


def _create(cfg: Settings, key: str, url: URL, **kwargs: Any) -> Engine:
    quiet_pool_outages()
    try:
        return sa.create_engine(url, **kwargs)
    except NoSuchModuleError:
        raise cfg.error(key, f'"{url.drivername}" is not a SQLAlchemy dialect+driver installed here '
                        "(e.g. sqlite, mysql+pymysql)") from None
    except (ArgumentError, ImportError, TypeError) as exc:
        raise cfg.error(key, f"cannot use {show(url)}: {without_secrets(str(exc))}") from None


def _sqlite_setup(engine: Engine, writer: bool, readonly: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised through every SQLite test
        dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below own the transaction
        cur = dbapi_conn.cursor()
        if not readonly:  # a source keeps whatever journal its writer chose
            cur.execute("PRAGMA journal_mode=WAL")  # readers (status, scraper) never block the writer
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_S * 1000}")
        # WAL + NORMAL: a commit survives a killed process (SIGKILL restart invariance holds); only an OS
        # crash may lose the last commits, which a restart redoes since the target is the bookmark. FULL
        # would fsync every propagation: 2-3 ms each, the largest cost of a SQLite catch-up (bench/).
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def reflect(engine: Engine, name: str, cfg: Settings, key: str,
            types: dict[str, sa.types.TypeEngine] | None = None) -> sa.Table:
    """Table `name` with its columns only (names, types, nullability; `types` overrides some): all a
    SELECT needs. Full reflection (indexes, constraints, comments) costs PostgreSQL ~16 catalog
    queries, which `scr.py status` would pay per table per call."""
    try:
        columns = sa.inspect(engine).get_columns(name)
    except NoSuchTableError:
        raise cfg.error(key, f'table "{name}" not found in {show(engine.url)}') from None
    types = types or {}
    return sa.Table(name, sa.MetaData(), *(sa.Column(c["name"], types.get(c["name"], c["type"]),
                                                     nullable=c.get("nullable", True)) for c in columns))


def source_table(engine: Engine, name: str, cfg: Settings, key: str = "source") -> sa.Table:
    """A source table whose `date_time` reads and compares exactly however the DCS spelled it
    (dialects.py, timeforms.py): its form is detected, then the column typed with it."""
    table = reflect(engine, name, cfg, key)
    if "date_time" not in table.c:
        return table
    typ = dialects.impl(engine).time_type(engine, table, cfg)
    return table if typ is None else reflect(engine, name, cfg, key, {"date_time": typ})


def table_exists(engine: Engine, name: str) -> bool:
    return sa.inspect(engine).has_table(name)


def database_name(cfg: Settings, key: str) -> str:
    """The name by which an operator recognises a database: my.cnf section, schema or file stem."""
    url = resolve_url(cfg, key)
    if url.get_backend_name() == "sqlite":
        return Path(url.database or "").stem
    return url.database or ""


from scraper.db.prepared import PreparedQuery  # noqa: E402  (re-exported: db.PreparedQuery)
