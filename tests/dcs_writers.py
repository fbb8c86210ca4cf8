"""Source tables as real DCS programs write them: with the database's own client library and raw SQL,
never through the scraper's SQLAlchemy models, and with the time spellings those programs use."""
from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from regimes.adtemp import PT

EPOCH = datetime(1970, 1, 1)
START = datetime(2011, 2, 1, 0, 0, 10)

# SQLite spellings: (name, declared type of date_time, whole seconds only?)
SQLITE_FORMS = [
    ("text-space", "TEXT", False),
    ("text-T", "VARCHAR(32)", False),
    ("text-space-fraction", "NUMERIC", False),
    ("text-mixed-fraction", "", False),
    ("text-T-mixed-fraction", "DATETIME", False),
    ("epoch-integer", "INTEGER", True),
    ("epoch-real", "REAL", False),
    ("epoch-untyped", "", True),
]


def dcs_rows(n: int, seed: int, whole_seconds: bool = False, nulls: bool = True) -> list[dict]:
    """adtemp-shaped entries every ~10 s with what DCS tables hold: a random walk (changes and quiet
    stretches), fractional seconds, entries sharing a timestamp, ids out of time order, NULL readings."""
    rng = random.Random(seed)
    rows, value, t = [], 20.0, START
    for i in range(1, n + 1):
        if rng.random() < 0.1:
            value += rng.choice([-1, 1]) * rng.uniform(0.3, 1.5)
        step = 0 if rng.random() < 0.05 else 10  # a re-insert at the same time
        t = t + timedelta(seconds=step)
        at = t if whole_seconds or rng.random() < 0.6 else t + timedelta(microseconds=rng.choice([1, 250000, 500000, 999999]))
        row = {"id": i, "date_time": at, **{c: round(value + k, 3) for k, c in enumerate(PT)}}
        if nulls and rng.random() < 0.03:
            row[rng.choice(PT)] = None
        rows.append(row)
    for k in range(5, n - 1, 97):  # a pair committed in the other order: ids out of time order
        rows[k]["id"], rows[k + 1]["id"] = rows[k + 1]["id"], rows[k]["id"]
    return rows


def spell(t: datetime, form: str, k: int) -> object:
    """`t` as the program behind `form` stores it; `k` varies the spelling within a mixed table."""
    if form.startswith("epoch"):
        seconds = (t - EPOCH) / timedelta(seconds=1)
        return int(seconds) if form != "epoch-real" else seconds
    sep = "T" if "-T" in form else " "
    base = t.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    frac = f"{t.microsecond:06d}"
    if form.endswith("space-fraction"):
        return f"{base}.{frac}"
    if "mixed" in form:
        # mixed in the table, but one spelling per instant, as a writer's formatter gives (Python's
        # isoformat drops a zero fraction); two spellings of one instant sort by spelling, not id
        variant = (t.minute + t.second // 10) % 3
        if variant == 0:
            return f"{base}.{frac}"
        if variant == 1:
            return f"{base}.{frac.rstrip('0') or '0'}"
    return f"{base}.{frac.rstrip('0')}" if t.microsecond else base


def sqlite_source(path: Path, form: str, declared: str, rows: list[dict], table: str = "DBNS_SAB_Temp") -> None:
    """The table made and filled with Python's sqlite3 module (a DCS writer's own code)."""
    con = sqlite3.connect(path)
    cols = ", ".join(f"{c} REAL" for c in PT)
    con.execute(f'CREATE TABLE IF NOT EXISTS "{table}" (id INTEGER PRIMARY KEY, date_time {declared}, {cols})')
    con.execute(f'CREATE INDEX IF NOT EXISTS "{table}_dt" ON "{table}" (date_time)')
    append_sqlite(con, form, rows, table)
    con.close()


def append_sqlite(con: sqlite3.Connection, form: str, rows: list[dict], table: str = "DBNS_SAB_Temp") -> None:
    marks = ", ".join("?" * (2 + len(PT)))
    con.executemany(f'INSERT INTO "{table}" VALUES ({marks})',
                    [(r["id"], spell(r["date_time"], form, r["id"]), *(r[c] for c in PT)) for r in rows])
    con.commit()


# Column kinds as each database's own DDL spells them (what a DCS writer's schema script runs, not
# SQLAlchemy's rendering): MariaDB with microseconds and InnoDB, PostgreSQL's naive `timestamp`.
SPELLING = {
    "sqlite": {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "time": "DATETIME", "float": "FLOAT",
               "int": "INTEGER", "text": "TEXT"},
    "mysql": {"id": "INT NOT NULL AUTO_INCREMENT PRIMARY KEY", "time": "DATETIME(6)", "float": "DOUBLE",
              "int": "INT", "text": "VARCHAR(16)"},
    "postgresql": {"id": "serial PRIMARY KEY", "time": "timestamp", "instant": "timestamptz",
                   "float": "double precision", "int": "integer", "text": "varchar(16)"},
}


def family(dialect: str) -> str:
    """"sqlite", "mysql" or "postgresql" for a SQLAlchemy dialect name (MariaDB speaks MySQL's DDL)."""
    return "mysql" if dialect in ("mysql", "mariadb") else dialect


def quote(dialect: str, name: str) -> str:
    """A table or column name quoted so that every backend keeps its case (PostgreSQL folds unquoted
    names to lower case; MySQL's quote is the backtick)."""
    return f"`{name}`" if family(dialect) == "mysql" else f'"{name}"'


def ddl(dialect: str, table: str, columns: dict[str, str], index: str | None = None) -> list[str]:
    """CREATE TABLE (+ CREATE INDEX on `index`) with `columns` {name: kind of SPELLING}, NOT NULL for
    the time column, as the backend's own client would run it."""
    kinds = SPELLING[family(dialect)]
    q = lambda n: quote(dialect, n)  # noqa: E731
    cols = ", ".join(f"{q(n)} {kinds[k]}" + (" NOT NULL" if k in ("time", "instant") else "") for n, k in columns.items())
    suffix = " ENGINE=InnoDB" if family(dialect) == "mysql" else ""
    out = [f"CREATE TABLE {q(table)} ({cols}){suffix}"]
    if index:
        out.append(f"CREATE INDEX {q(f'{table}_{index}')} ON {q(table)} ({q(index)})")
    return out


def insert_sql(dialect: str, table: str, names: list[str]) -> str:
    """An INSERT with named parameters (`:name`, for sqlalchemy.text) and quoted names."""
    cols = ", ".join(quote(dialect, n) for n in names)
    return f"INSERT INTO {quote(dialect, table)} ({cols}) VALUES ({', '.join(':' + n for n in names)})"


def sync_ids(conn, dialect: str, table: str) -> None:
    """After rows were inserted with their ids given: on PostgreSQL move the serial's sequence past
    them, as a restore does (MySQL's AUTO_INCREMENT and SQLite's do so on their own), so that a writer
    inserting without an id next gets a fresh one. `conn`: a SQLAlchemy connection."""
    if family(dialect) == "postgresql":
        conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{quote(dialect, table)}', 'id'), "
                             f"(SELECT max(id) FROM {quote(dialect, table)}))")


def mysql_source(conn, rows: list[dict], table: str = "DBNS_SAB_Temp", column: str = "DATETIME") -> None:
    """The table as a DCS made it on MariaDB: a permissive sql_mode that lets zero dates in."""
    cols = ", ".join(f"`{c}` DOUBLE" for c in PT)
    with conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute(f"CREATE TABLE `{table}` (id INT PRIMARY KEY AUTO_INCREMENT, date_time {column} NOT NULL, "
                    f"{cols}, KEY (date_time)) ENGINE=InnoDB")
        cur.executemany(f"INSERT INTO `{table}` VALUES ({', '.join(['%s'] * (2 + len(PT)))})",
                        [(r["id"], r["date_time"], *(r[c] for c in PT)) for r in rows])


def pg_source(conn, rows: list[dict], table: str = "DBNS_SAB_Temp", column: str = "timestamp") -> None:
    """The table as made with psql: `column` is `timestamp` (naive) or `timestamptz` (given as UTC)."""
    cols = ", ".join(f'"{c}" double precision' for c in PT)
    conn.execute(f'CREATE TABLE "{table}" (id serial PRIMARY KEY, date_time {column} NOT NULL, {cols})')
    conn.execute(f'CREATE INDEX ON "{table}" (date_time)')
    suffix = "+00" if column == "timestamptz" else ""
    with conn.cursor() as cur:
        cur.executemany(f'INSERT INTO "{table}" VALUES ({", ".join(["%s"] * (2 + len(PT)))})',
                        [(r["id"], r["date_time"].isoformat(sep=" ") + suffix, *(r[c] for c in PT)) for r in rows])
