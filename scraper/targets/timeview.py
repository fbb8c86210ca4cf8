"""On request (`time_view = True`), a view `<kls>_time` beside a DBI payload table: its payload rows
with the validity range as UTC unix seconds, `time` (TIMESTART) and `timeend` (TIMEEND).

Grafana's SQL data sources read a number as unix seconds, so a conditions table is plotted exactly
like a bridged table: `SELECT time, Temp_PT1 FROM DcsAdTemp_time ORDER BY time` is the step function
the conditions database holds (a record superseded by a newer one is not in it). How each backend
computes unix seconds (SQLite: INTEGER for whole seconds and REAL otherwise, as in the bridge;
MariaDB and PostgreSQL: one DOUBLE column) and replaces a view is in scraper/db/dialects.py. Every
name is quoted: PostgreSQL keeps the DBI tables' upper-case column names only quoted.
"""
from __future__ import annotations

from sqlalchemy.engine import Engine

from scraper.db import dialects
from scraper.targets.dbi import DbiTables


def view_name(tables: DbiTables) -> str:
    return f"{tables.kls}_time"


def create_time_view(engine: Engine, tables: DbiTables) -> str:
    """Create (or replace, the payload may have grown) the view; returns its name."""
    sql = dialects.impl(engine)
    q = engine.dialect.identifier_preparer.quote
    name, kls, vld = view_name(tables), tables.kls, tables.vld.name
    v = {c: f"v.{q(c)}" for c in ("TIMESTART", "TIMEEND", "SITEMASK", "SUBSITE", "TASK", "SEQNO")}
    payload = ", ".join(f"p.{q(c)}" for c in tables.columns)
    select = (f"SELECT {sql.unix_seconds_sql(v['TIMESTART'])} AS {q('time')}, "
              f"{sql.unix_seconds_sql(v['TIMEEND'])} AS {q('timeend')}, {v['SITEMASK']}, {v['SUBSITE']}, "
              f"{v['TASK']}, {v['SEQNO']}, p.{q('ROW_COUNTER')}{', ' + payload if payload else ''} "
              f"FROM {q(kls)} p JOIN {q(vld)} v ON {v['SEQNO']} = p.{q('SEQNO')} "
              f"WHERE {v['TIMESTART']} <> {v['TIMEEND']} OR NOT EXISTS ({_newer(q, vld)})")
    with engine.begin() as conn:
        sql.replace_view(conn, q(name), select)
    return name


def _newer(q, vld: str) -> str:
    """A newer record (higher SEQNO) of the same context holding the instant of `v`: then `v`, holding
    no time, was closed at its start when that one replaced it (a record ahead of the clock, a bin an
    older averager closed early; docs/operations.md) and is left out, not plotted beside its
    replacement at the same time."""
    same = " AND ".join(f"w.{q(c)} = v.{q(c)}" for c in ("SITEMASK", "SUBSITE", "SIMMASK", "TASK"))
    return (f"SELECT 1 FROM {q(vld)} w WHERE {same} AND w.{q('SEQNO')} > v.{q('SEQNO')} "
            f"AND w.{q('TIMESTART')} <= v.{q('TIMESTART')} AND w.{q('TIMEEND')} >= v.{q('TIMESTART')}")
