"""Helpers of the bridge tests: sources written with raw SQL as a DCS writes them, bridged rows read
back with sqlite3 as Grafana reads them."""
from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dcs_writers import ddl, insert_sql, sync_ids

PT = [f"Temp_PT{i}" for i in range(1, 6)]
BRIDGE = {"regime": "regimes.adtemp:AdTemp", "mode": "bridge", "timefloor": "2011-01-01 00:00:00"}


def adtemp_ddl(dialect: str, name: str = "DBNS_SAB_Temp", columns: list[str] = PT) -> list[str]:
    """The DDL a DCS database has (not SQLAlchemy's): auto-increment id, naive date_time, an index."""
    return ddl(dialect, name, {"id": "id", "date_time": "time", **{c: "float" for c in columns}}, index="date_time")


def create_source(engine: sa.Engine, name: str = "DBNS_SAB_Temp", columns: list[str] = PT,
                  nullable: bool = False) -> None:
    """`nullable`: a date_time column that takes NULL (a DCS table holding rows without a time)."""
    with engine.begin() as conn:
        for stmt in adtemp_ddl(engine.dialect.name, name, columns):
            conn.exec_driver_sql(stmt.replace(" NOT NULL", "") if nullable else stmt)


def add_rows(engine: sa.Engine, rows: list[dict[str, Any]], name: str = "DBNS_SAB_Temp") -> None:
    """INSERT statements with text timestamps (SQLite's own format, as DCS software writes them)."""
    if not rows:
        return
    sql = insert_sql(engine.dialect.name, name, list(rows[0]))
    text = [{k: (v.isoformat(sep=' ') if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows]
    with engine.begin() as conn:
        conn.execute(sa.text(sql), text)
        if "id" in rows[0]:
            sync_ids(conn, engine.dialect.name, name)


def dcs_rows(n: int, start: datetime = datetime(2011, 2, 1), seed: int = 1, twins: float = 0.05,
             step: timedelta = timedelta(seconds=10), columns: list[str] = PT, first_id: int = 1) -> list[dict]:
    """n entries every `step`, some of them twins (a second entry with the same date_time and other
    values, as a DCS re-insert writes); ids in order."""
    rng = random.Random(seed)
    rows, t, i = [], start, first_id
    while len(rows) < n:
        rows.append({"id": i, "date_time": t, **{c: round(20 + k + rng.gauss(0, 1), 3) for k, c in enumerate(columns)}})
        i += 1
        if rng.random() < twins and len(rows) < n:
            rows.append({"id": i, "date_time": t, **{c: round(30 + rng.random(), 3) for c in columns}})
            i += 1
        t += step
    return rows


def bridged(path: Path, table: str = "DBNS_SAB_Temp") -> list[tuple]:
    """Every row of a bridged table in insertion (rowid) order, read as Grafana would: plain sqlite3."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()
    finally:
        con.close()


def query(path: Path, sql: str, *params) -> list[tuple]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def count(path: Path, table: str = "DBNS_SAB_Temp") -> int:
    try:
        return query(path, f'SELECT count(*) FROM "{table}"')[0][0]
    except sqlite3.OperationalError:
        return 0
