"""Helpers for the decimator tests: a cbpm3_data table made and filled with raw SQL (as the monitor's
own software writes it, not through our models), an oracle computing what thinning must leave, and
readers for the table and its rollup."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import sqlalchemy as sa

from dcs_writers import ddl, family, insert_sql, sync_ids
from scraper import commands

EPOCH = datetime(1970, 1, 1)
CHANNELS = ("top_in", "bot_in", "bot_out", "top_out")

COLUMNS = {"id": "id", "timestamp": "time", "instr": "text", **{c: "int" for c in CHANNELS}}


def dialect(engine: sa.Engine) -> str:
    return family(engine.dialect.name)


def create_table(engine: sa.Engine, time_kind: str = "time", nullable: bool = False) -> None:
    """`time_kind` "instant": PostgreSQL's timestamptz; `nullable`: a time column without NOT NULL (a
    monitor's table that holds rows without a time)."""
    with engine.begin() as conn:
        for stmt in ddl(engine.dialect.name, "cbpm3_data", {**COLUMNS, "timestamp": time_kind}, index="timestamp"):
            conn.exec_driver_sql(stmt.replace(" NOT NULL", "") if nullable else stmt)


def stamp(t: datetime) -> str:
    """How the monitor's software spells a time: Python's str(), so whole seconds have no fraction."""
    return str(t)


def insert(engine: sa.Engine, rows: list[tuple], zone: str = "") -> None:
    """rows: (id or None, datetime, instr, value) with the value in all four channels; `zone` is
    appended to each time (`+00` for a timestamptz column: the monitor writes UTC instants)."""
    names = ["id", "timestamp", "instr", *CHANNELS]
    values = [dict(zip(names, (i, stamp(t) + zone, g, v, v, v, v))) for i, t, g, v in rows]
    with engine.begin() as conn:
        conn.execute(sa.text(insert_sql(engine.dialect.name, "cbpm3_data", names)), values)
        sync_ids(conn, engine.dialect.name, "cbpm3_data")


def ten_hz(start: datetime, seconds: float, instruments=("10AE", "12W", "15E"), first_id: int = 1,
           rate: float = 10.0) -> list[tuple]:
    """Readings at `rate` Hz of each instrument, a counter per instrument, with a little jitter;
    every 7th reading falls on a whole second exactly (the spelling without a fraction)."""
    out, i = [], first_id
    for n in range(int(seconds * rate)):
        base = start + timedelta(seconds=n / rate)
        for k, g in enumerate(instruments):
            t = base if n % 7 == 0 and k == 0 else base + timedelta(microseconds=(n * 7919 + 131 * k) % 9000)
            out.append((i, t, g, n))
            i += 1
    return out


def rows(engine: sa.Engine) -> list[tuple]:
    """(id, time, instr, top_in, bot_in, bot_out, top_out) ordered by id, times as datetimes."""
    t = sa.table("cbpm3_data", sa.column("id"), sa.column("timestamp", sa.DateTime), sa.column("instr"),
                 *(sa.column(c) for c in CHANNELS))
    with engine.connect() as conn:
        out = conn.execute(sa.select(t).order_by(t.c.id)).all()
    return [(r[0], _dt(r[1]), *r[2:]) for r in out]


def _dt(v):
    """A datetime; NULL, and a MariaDB zero date (no datetime can hold it), as read."""
    if v is None or isinstance(v, datetime) or str(v).startswith("0000-00-00"):
        return v
    return datetime.fromisoformat(str(v))


def rollup(engine: sa.Engine, name: str = "cbpm3_rollup") -> list[tuple]:
    with engine.connect() as conn:
        out = conn.execute(sa.text(f"SELECT * FROM {name} ORDER BY slice_utc, instr")).all()
    return [(_dt(r[0]), *(round(v, 6) if isinstance(v, float) else v for v in r[1:])) for r in out]


def slice_of(t: datetime, every: timedelta) -> datetime:
    return EPOCH + ((t - EPOCH) // every) * every


def expected(all_rows: list[tuple], keep: timedelta, every: timedelta, rule: str = "first",
             newest: datetime | None = None):
    """What thinning must leave (ids, source_tz = UTC) and the rollup it must write: every slice wholly
    before floor(newest - keep) keeps the first (last) entry by (time, id) of each instrument."""
    newest = newest or max(r[1] for r in all_rows)
    horizon = slice_of(newest - keep, every)
    groups = defaultdict(list)
    for r in all_rows:
        if r[1] < horizon:
            groups[(slice_of(r[1], every), r[2])].append(r)
    kept, roll = {r[0] for r in all_rows if r[1] >= horizon}, []
    for (s, g), rs in sorted(groups.items()):
        rs.sort(key=lambda r: (r[1], r[0]), reverse=rule == "last")
        kept.add(rs[0][0])
        stats = []
        for k in range(len(CHANNELS)):  # each channel its own avg/min/max: the faker's channels differ
            values = [r[3 + k] if len(r) > 3 + k else r[3] for r in rs]  # one value: written to every channel
            stats += [round(sum(values) / len(values), 6), float(min(values)), float(max(values))]
        roll.append((s, g, len(rs), rs[0][0], *stats))
    return sorted(kept), roll


def same_rollup(found: list[tuple], wanted: list[tuple]) -> bool:
    """Rollups equal but for the last digits of an average: MariaDB's AVG of integers is a DECIMAL of
    4 places (div_precision_increment), the others' a double."""
    return len(found) == len(wanted) and all(
        len(a) == len(b) and all(abs(x - y) < 1e-3 if isinstance(x, float) and isinstance(y, float) else x == y
                                 for x, y in zip(a, b))
        for a, b in zip(found, wanted))


def settings(dbs, **keys):
    """A decimator section over cbpm3_data: keep 2m of 10 s slices, with a rollup, in UTC."""
    base = {"regime": "regimes.cbpm3:Cbpm3", "mode": "decimator", "keep": "2m", "every": "10s", "batch": 250,
            "rollup": "cbpm3_rollup", "source_tz": "UTC"}
    return dbs.settings(**{**base, **keys})


def decimate(cfg, **kw):
    """One in-process `--catchup` run that may create its tables."""
    kw.setdefault("catchup", True)
    kw.setdefault("allow_create", True)
    return commands.run(cfg, **kw)
