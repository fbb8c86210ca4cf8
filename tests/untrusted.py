"""Source rows near the real wall clock, and the bad rows a control room adds to them (DESIGN: data
that cannot be trusted): shared by the tests of every mode."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from regimes.adtemp import PT


def utc_now() -> datetime:
    """The real clock, read by the tests themselves (never through the code under test)."""
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def live_rows(n: int, end: datetime, step: timedelta = timedelta(seconds=10), seed: int = 1,
              first_id: int = 1) -> list[dict]:
    """`n` adtemp entries every `step` up to `end`: slow drifts with a jump now and then, so that some
    propagate on change and some on maxage."""
    rng = random.Random(seed)
    rows, level = [], 20.0
    for k in range(n):
        if rng.random() < 0.15:
            level = round(level + rng.choice((-1.5, 1.5)), 3)
        row = {"id": first_id + k, "date_time": end - (n - 1 - k) * step}
        row.update({c: round(level + j + rng.uniform(-0.1, 0.1), 3) for j, c in enumerate(PT)})
        rows.append(row)
    return rows


def future_times(now: datetime, rng: random.Random, k: int) -> list[datetime]:
    """Times from minutes to decades ahead of `now` (beyond a 5-minute tolerance)."""
    spans = [timedelta(minutes=rng.randint(6, 59)), timedelta(hours=rng.randint(1, 23)),
             timedelta(days=rng.randint(1, 300)), timedelta(days=365 * rng.randint(1, 70))]
    return [now + rng.choice(spans) + timedelta(microseconds=rng.randint(0, 999_999)) for _ in range(k)]


# values a DCS table of each backend can really hold in a FLOAT column that are no numbers, as raw SQL
BAD_VALUES = {
    "sqlite": ["'n/a'", "X'00ff10'", "9e999", "-9e999", "''"],  # text, blob, +inf, -inf, empty text
    "postgresql": ["'NaN'::float8", "'Infinity'::float8", "'-Infinity'::float8"],
    "mysql": [],  # DOUBLE holds no NaN or inf, and strict mode refuses text
}


def spoil(engine, table: str, cells: list[tuple[int, str]], rng: random.Random, integer: bool = False) -> int:
    """Write a bad value (raw SQL, as a DCS writer would) into each (id, column); how many were written
    (none where the backend's column cannot hold one: MariaDB, and PostgreSQL's `integer`)."""
    import sqlalchemy as sa

    bad = BAD_VALUES["mysql" if engine.dialect.name in ("mysql", "mariadb") else engine.dialect.name]
    if integer and engine.dialect.name == "postgresql":
        bad = []
    if not bad:
        return 0
    quote = '"' if engine.dialect.name == "postgresql" else ""
    with engine.begin() as conn:
        for id_, column in cells:
            conn.execute(sa.text(f'UPDATE {quote}{table}{quote} SET {quote}{column}{quote} = {rng.choice(bad)} '
                                 f"WHERE id = {int(id_)}"))
    return len(cells)
