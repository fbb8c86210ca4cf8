"""A drain on SQLite hands a chunk's rows to SQLite as one JSON array (json_each): the table must then
hold exactly what binding the decoded Python values holds, bit for bit and type for type."""
from __future__ import annotations

import json
import random
import struct

import sqlalchemy as sa

from scraper.db.inserts import DriverSQL, insert_new, sqlite_json_insert


def test_rows_parsed_by_sqlite_equal_rows_bound_from_python(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 't.db'}")
    md = sa.MetaData()
    tables = [sa.Table(name, md, sa.Column("time", sa.Integer, nullable=False), sa.Column("channel", sa.BigInteger),
                       sa.Column("R", sa.Double), sa.Column("note", sa.Text),
                       sa.Index(f"{name}_key", "time", "channel", unique=True)) for name in ("bound", "parsed")]
    md.create_all(engine)
    rng = random.Random(7)
    awkward = [0.1 + 0.2, 1e-05, 5e-324, 1.7976931348623157e308, -0.0, 2.0 ** 53 + 1, 1e22, 123456789.123456789]
    floats = awkward + [struct.unpack("d", rng.randbytes(8))[0] for _ in range(3000)]
    floats = [f for f in floats if f == f and abs(f) != float("inf")]
    rows = [[1_790_000_000 + i * 0.1 if i % 2 else 1_790_000_000 + i, i, f, None if i % 3 else f"é\"{i}\\"]
            for i, f in enumerate(floats)]
    rows.append([1_790_000_000, 0, 1.0, "a twin of row 0's key: nothing written"])
    with engine.begin() as conn:
        DriverSQL(engine, insert_new("sqlite", tables[0], "time"), [c.name for c in tables[0].c]).run(conn, rows)
        sql = sqlite_json_insert(engine, tables[1])
        assert sql is not None
        conn.exec_driver_sql(sql, (json.dumps(rows, allow_nan=False),))
    with engine.connect() as conn:
        def read(name: str) -> list:
            return conn.exec_driver_sql(f'SELECT time, typeof(time), channel, typeof(channel), "R", typeof("R"), quote("R"), note '
                                        f"FROM {name} ORDER BY channel").fetchall()
        assert read("parsed") == read("bound")
        assert len(read("parsed")) == len(floats)
