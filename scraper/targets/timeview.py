"""On request (`time_view = True`), a view `<kls>_time` beside a DBI payload table: its payload rows
with the validity range as UTC unix seconds, `time` (TIMESTART) and `timeend` (TIMEEND).

Grafana's SQL data sources read a number as unix seconds, so a conditions table is plotted exactly
like a bridged table: `SELECT time, Temp_PT1 FROM DcsAdTemp_time ORDER BY time` is the step function
the conditions database holds. On SQLite whole seconds are integers and fractional stamps REAL (10 Hz
sources), as in the bridge; a MariaDB view column has one type, DOUBLE. The unix-seconds expression is the one dialect-specific piece, kept here.
"""
from __future__ import annotations

from sqlalchemy.engine import Engine

from scraper.targets.dbi import DbiTables


def unix_seconds(dialect: str, col: str) -> str:
    if dialect == "sqlite":  # DBI times are stored as text: 'YYYY-MM-DD HH:MM:SS[.ffffff]'
        frac = f"CAST(substr({col}, 20) AS REAL)"
        return (f"CASE WHEN length({col}) > 19 AND {frac} != 0 THEN CAST(strftime('%s', {col}) AS INTEGER) + {frac} "
                f"ELSE CAST(strftime('%s', {col}) AS INTEGER) END")
    if dialect in ("mysql", "mariadb"):
        # TIMESTAMPDIFF ignores the session time_zone (UNIX_TIMESTAMP does not). A MariaDB view column
        # has one type: DOUBLE, exact to the microsecond for these magnitudes
        return f"TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', {col}) + MICROSECOND({col}) / 1e6"
    if dialect == "postgresql":  # a naive timestamp holds UTC here, which is how EPOCH reads it (untested yet)
        return f"EXTRACT(EPOCH FROM {col})"
    raise ValueError(f"time_view: no unix-seconds expression for dialect {dialect}")


def view_name(tables: DbiTables) -> str:
    return f"{tables.kls}_time"


def create_time_view(engine: Engine, tables: DbiTables) -> str:
    """Create (or replace, the payload may have grown) the view; returns its name."""
    dialect = engine.dialect.name
    q = engine.dialect.identifier_preparer.quote
    name, kls, vld = view_name(tables), tables.kls, tables.vld.name
    payload = ", ".join(f"p.{q(c)}" for c in tables.columns)
    select = (f"SELECT {unix_seconds(dialect, 'v.TIMESTART')} AS {q('time')}, "
              f"{unix_seconds(dialect, 'v.TIMEEND')} AS timeend, v.SITEMASK, v.SUBSITE, v.TASK, v.SEQNO, "
              f"p.ROW_COUNTER{', ' + payload if payload else ''} "
              f"FROM {q(kls)} p JOIN {q(vld)} v ON v.SEQNO = p.SEQNO")
    with engine.begin() as conn:
        if dialect == "sqlite":
            conn.exec_driver_sql(f"DROP VIEW IF EXISTS {q(name)}")
            conn.exec_driver_sql(f"CREATE VIEW {q(name)} AS {select}")
        else:
            conn.exec_driver_sql(f"CREATE OR REPLACE VIEW {q(name)} AS {select}")
    return name
