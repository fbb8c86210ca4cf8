"""On request (`time_view = True`), a view `<kls>_time` beside a DBI payload table: its payload rows
with the validity range as UTC unix seconds, `time` (TIMESTART) and `timeend` (TIMEEND).

Grafana's SQL data sources read a number as unix seconds, so a conditions table is plotted exactly
like a bridged table: `SELECT time, Temp_PT1 FROM DcsAdTemp_time ORDER BY time` is the step function
the conditions database holds (a record superseded by a newer one is not in it). How each backend
computes unix seconds (SQLite: INTEGER for whole seconds and REAL otherwise, as in the bridge;
MariaDB and PostgreSQL: one DOUBLE column) and replaces a view is in scraper/db/dialects.py. The
view's SELECT is written by SQLAlchemy for the target's dialect: it quotes the DBI tables' upper-case
names (PostgreSQL keeps them only quoted), and the superseded record is the one rule of targets/dbi.py.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from scraper.db import dialects
from scraper.targets.dbi import DbiTables, covered


def view_name(tables: DbiTables) -> str:
    return f"{tables.kls}_time"


def create_time_view(engine: Engine, tables: DbiTables) -> str:
    """Create (or replace, the payload may have grown) the view; returns its name."""
    sql = dialects.impl(engine)
    q = engine.dialect.identifier_preparer.quote
    name = view_name(tables)
    v, w, p = tables.vld.alias("v"), tables.vld.alias("w"), tables.payload.alias("p")

    def seconds(column: str) -> sa.ColumnElement:
        return sa.literal_column(sql.unix_seconds_sql(f"v.{q(column)}"))

    select = (sa.select(seconds("TIMESTART").label("time"), seconds("TIMEEND").label("timeend"), v.c.SITEMASK,
                        v.c.SUBSITE, v.c.TASK, v.c.SEQNO, p.c.ROW_COUNTER, *(p.c[c] for c in tables.columns))
              .select_from(p.join(v, v.c.SEQNO == p.c.SEQNO))
              .where(sa.or_(v.c.TIMESTART != v.c.TIMEEND, ~covered(v, w))))  # superseded records left out
    with engine.begin() as conn:
        sql.replace_view(conn, q(name), str(select.compile(dialect=engine.dialect)))
    return name
