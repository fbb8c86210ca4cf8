"""Fast generation of big fake sources inside the database (INSERT ... SELECT over a number sequence),
because inserting millions of rows through Python would dominate the benchmark's run time.

Values are deterministic functions of the id, so every run (and every backend) sees the same data.
"""
from __future__ import annotations

import sqlalchemy as sa

from regimes.adlid import LID, adlid_tables
from regimes.adtemp import PT, adtemp_tables

CHUNK = 250_000
START = "2011-02-01 00:00:00"


def _mod(dialect: str, a: str, b: int) -> str:
    return f"(({a}) % {b})" if dialect == "sqlite" else f"MOD({a}, {b})"


def _idiv(dialect: str, a: str, b: int) -> str:
    return f"(({a}) / {b})" if dialect in ("sqlite", "postgresql") else f"(({a}) DIV {b})"


def _time(dialect: str, seconds: str) -> str:
    if dialect == "sqlite":  # the storage format SQLAlchemy writes and compares against
        return f"(datetime('{START}', '+' || ({seconds}) || ' seconds') || '.000000')"
    if dialect == "postgresql":
        return f"(TIMESTAMP '{START}' + ({seconds}) * INTERVAL '1 second')"
    return f"(TIMESTAMP '{START}' + INTERVAL ({seconds}) SECOND)"


def _numbers(dialect: str, lo: int, hi: int) -> tuple[str, str]:
    """(WITH-prefix, FROM-clause) yielding column i = lo..hi."""
    if dialect == "sqlite":
        return (f"WITH RECURSIVE n(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM n WHERE i < {hi}) ", "n")
    if dialect == "postgresql":
        return "", f"generate_series({lo}::bigint, {hi}::bigint) AS n(i)"  # bigint: i * 7919 overflows integer
    return "", f"(SELECT seq AS i FROM seq_{lo}_to_{hi}) AS n"  # MariaDB's Sequence engine


def _fill(engine: sa.Engine, table: str, columns: list[str], exprs: list[str], rows: int) -> None:
    """INSERT ... SELECT in chunks of CHUNK rows (one transaction each, so InnoDB's undo stays small)."""
    dialect = engine.dialect.name
    for lo in range(1, rows + 1, CHUNK):
        with_, from_ = _numbers(dialect, lo, min(lo + CHUNK - 1, rows))
        q = engine.dialect.identifier_preparer.quote  # PostgreSQL folds unquoted mixed-case names
        sql = f"{with_}INSERT INTO {q(table)} ({', '.join(map(q, columns))}) SELECT {', '.join(exprs)} FROM {from_}"
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)


def make_adlid(engine: sa.Engine, rows: int, cadence_s: int = 5) -> str:
    """AD1_LidSensor: 19 readings + Quality (0 for every 50th entry), one entry every `cadence_s`."""
    d = engine.dialect.name
    (table,) = adlid_tables(sa.MetaData())
    table.metadata.drop_all(engine)
    table.metadata.create_all(engine)
    exprs = ["i", _time(d, f"(i - 1) * {cadence_s}")]
    for k, _c in enumerate(LID):
        exprs.append(f"{20 + k}.0 + {_mod(d, f'i * 7919 + {k * 104729}', 1000)} / 1000.0")
    exprs.append(f"CASE WHEN {_mod(d, 'i', 50)} = 0 THEN 0 ELSE 1 END")
    _fill(engine, table.name, ["id", "date_time", *LID, "Quality"], exprs, rows)
    return table.name


def make_adtemp(engine: sa.Engine, rows: int, cadence_s: int = 10, every: int = 100) -> str:
    """DBNS_SAB_Temp: PT1 toggles by 1 degree every `every` entries (so ~1/every of the samples are
    `changed` with threshold 0.5); the other sensors wiggle far below the threshold."""
    d = engine.dialect.name
    (table,) = adtemp_tables(sa.MetaData())
    table.metadata.drop_all(engine)
    table.metadata.create_all(engine)
    exprs = ["i", _time(d, f"(i - 1) * {cadence_s}"), f"20.0 + {_mod(d, _idiv(d, 'i', every), 2)}"]
    for k in range(1, len(PT)):
        exprs.append(f"{20 + k}.0 + {_mod(d, f'i * 31 + {k}', 7)} / 100.0")
    _fill(engine, table.name, ["id", "date_time", *PT], exprs, rows)
    return table.name
