"""Decimator: entries dated ahead of the wall clock never move the horizon, a cursor left ahead of the
clock is repaired, and the rollup holds one row per (slice, group) however often it is run. Real
databases, times near the real clock."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

import decimation as d
from scraper import commands
from scraper.modes.decimate.tables import Cursor, cursor_table, write_cursor
from untrusted import utc_now

KEEP, EVERY = timedelta(minutes=2), timedelta(seconds=10)


@pytest.fixture
def src(dbs):
    """cbpm3_data as a monitor may have made it: its time column takes NULL."""
    engine = dbs.engine("source")
    d.create_table(engine, nullable=True)
    return engine


def unplaced(engine, first_id: int) -> list[int]:
    """Rows no slice can place, written as the world writes them (raw SQL, text times): a 1970 row, two
    without a time, and on MariaDB a zero date (its permissive sql_mode). Returns their ids."""
    times = ["'1970-01-01 00:00:01'", "NULL", "NULL", "'2009-12-31 23:59:59.5'"]
    with engine.begin() as conn:
        if engine.dialect.name in ("mysql", "mariadb"):
            conn.exec_driver_sql("SET SESSION sql_mode = ''")
            times.append("'0000-00-00 00:00:00'")
        for k, t in enumerate(times):
            conn.exec_driver_sql(f"INSERT INTO cbpm3_data (id, timestamp, instr, top_in, bot_in, bot_out, top_out) "
                                 f"VALUES ({first_id + k}, {t}, '12W', 5, 5, 5, 5)")
        d.sync_ids(conn, engine.dialect.name, "cbpm3_data")
    return list(range(first_id, first_id + len(times)))


def live(seconds: float = 300) -> list[tuple]:
    """Three instruments at 2 Hz for the last `seconds`, up to a second ago (the real clock)."""
    return d.ten_hz(utc_now() - timedelta(seconds=seconds + 1), seconds, rate=2.0)


def test_an_entry_from_the_future_never_moves_the_horizon_real_clock(dbs, src, caplog):
    data = live()
    d.insert(src, data)
    top = data[-1][0]
    ahead = [(top + 1, datetime(2099, 1, 1, 12), "10AE", 7), (top + 2, utc_now() + timedelta(days=1), "12W", 8)]
    d.insert(src, ahead)
    with caplog.at_level(logging.WARNING, logger="scraper.future"):
        summary = d.decimate(d.settings(dbs))
    ids, roll = d.expected(data, KEEP, EVERY)
    assert [r[0] for r in d.rows(src)] == ids + [top + 1, top + 2]  # the future ones untouched too
    assert d.rollup(src) == roll
    assert summary.totals.horizon == d.slice_of(max(r[1] for r in data) - KEEP, EVERY)
    assert "entries ahead of the clock not read yet 2" in summary.text()
    assert sum("ahead of the clock" in r.getMessage() for r in caplog.records) == 2


def test_rows_no_slice_can_place_are_left_alone_counted_logged_once_and_shown_by_status(dbs, src, caplog):
    """1970 rows, zero dates and NULL times, the oldest rows of the table: thinning starts at the first
    entry from timefloor on (not at 1970: 56 years of empty slices), deletes none of them, and says so."""
    from scraper.runtime.status import section_status

    data = live()
    never = unplaced(src, 1)  # the oldest ids too: the rows a monitor wrote before its clock was set
    d.insert(src, [(len(never) + i, t, g, v) for i, t, g, v in data])
    cfg_path = dbs.write_cfg({"thin": {"regime": "regimes.cbpm3:Cbpm3", "mode": "decimator", "keep": "2m",
                                       "every": "10s", "batch": 250, "rollup": "cbpm3_rollup", "source_tz": "UTC"}})
    cfg = commands.settings(str(cfg_path), "thin")
    with caplog.at_level(logging.INFO, logger="scraper.decimator"):
        summary = d.decimate(cfg)
        again = d.decimate(cfg)
    shifted = [(len(never) + i, t, g, v) for i, t, g, v in data]
    ids, roll = d.expected(shifted, KEEP, EVERY)
    assert [r[0] for r in d.rows(src)] == never + ids
    assert d.rollup(src) == roll
    assert summary.totals.deleted == len(data) - len(ids) and again.totals.deleted == 0
    assert summary.before_floor == again.before_floor == len(never)
    assert f"entries before timefloor ignored {len(never)}" in summary.text()
    said = [r.getMessage() for r in caplog.records if "before timefloor" in r.getMessage()]
    assert len(said) == 2 and all(f"{len(never)} entries before timefloor" in m for m in said)  # once a run
    started = [r.getMessage() for r in caplog.records if r.getMessage().startswith("thinning cbpm3_data")]
    assert started and str(d.slice_of(shifted[0][1], EVERY))[:16] in started[0]  # from the first real entry
    st = section_status(str(cfg_path), "thin")
    assert st.health == "WARNING" and f"{len(never)} entries before timefloor or without a time" in st.note, st


def test_a_cursor_left_ahead_of_the_clock_is_repaired_and_nothing_young_is_deleted(dbs, src, caplog):
    data = live()
    d.insert(src, data[:len(data) // 2])
    cfg = d.settings(dbs)
    d.decimate(cfg)
    # an older version met a row dated 2099: its cursor says thinned until 2098 (and the row is gone)
    with src.begin() as conn:
        write_cursor(conn, cursor_table(), "cbpm3_data",
                     Cursor(datetime(2098, 12, 31, 23, 58), data[len(data) // 2 - 1][0], 10, "first"), utc_now())
    d.insert(src, data[len(data) // 2:])
    with caplog.at_level(logging.WARNING, logger="scraper.decimator"):
        summary = d.decimate(cfg)
    assert any("ahead of the clock" in r.getMessage() and "set back to" in r.getMessage()
               for r in caplog.records)
    ids, roll = d.expected(data, KEEP, EVERY)
    assert [r[0] for r in d.rows(src)] == ids
    assert d.rollup(src) == roll
    assert summary.totals.cursor == summary.totals.horizon < utc_now()


def test_the_rollup_holds_one_row_per_slice_and_group_even_after_the_cursor_is_dropped(dbs, src):
    data = live(200)
    d.insert(src, data)
    cfg = d.settings(dbs)
    d.decimate(cfg)
    before = (d.rows(src), d.rollup(src))
    with src.begin() as conn:
        conn.execute(sa.text("DROP TABLE decimator_cursor"))
    d.decimate(cfg)
    assert (d.rows(src), d.rollup(src)) == before
    with pytest.raises(sa.exc.IntegrityError):  # and the table itself refuses a second row
        with src.begin() as conn:
            first = conn.execute(sa.text("SELECT slice_utc, instr FROM cbpm3_rollup")).first()
            conn.execute(sa.text("INSERT INTO cbpm3_rollup (slice_utc, instr, count) VALUES (:s, :g, 1)"),
                         {"s": first[0], "g": first[1]})


NEAR = (-999, -500, -478, -1, 0, 1, 478, 500, 999)  # microseconds from a slice boundary


def test_slices_are_exact_to_the_microsecond_within_a_millisecond_of_a_boundary(dbs, src):
    base = datetime(2020, 11, 4, 9, 0)
    data, i = [], 1
    for k in range(1, 40):
        for us in NEAR:
            for g in ("10AE", "12W"):
                data.append((i, base + k * EVERY + timedelta(microseconds=us), g, i))
                i += 1
    data.append((i, base + timedelta(minutes=10), "10AE", i))  # the newest: the horizon is 8 min after base
    d.insert(src, data)
    summary = d.decimate(d.settings(dbs))
    ids, roll = d.expected(data, KEEP, EVERY)
    assert [r[0] for r in d.rows(src)] == ids
    assert d.rollup(src) == roll
    assert summary.totals.deleted == len(data) - len(ids)


@pytest.mark.parametrize("seed", [1, 2])
def test_bad_rows_among_live_entries_thin_like_the_same_table_without_them(dbs, src, seed):
    """Property: random bad rows (future by minutes to decades, 1970, zero dates, NULL times, values of
    the wrong kind) among live 2 Hz entries near the real clock: the same entries are kept as without
    them, the same rollup (it skips the bad values), nothing younger than keep is deleted, and the rows
    no slice can place are left alone, counted."""
    import random

    from untrusted import future_times, spoil

    rng = random.Random(seed)
    now = utc_now()
    data = live()
    top = data[-1][0]
    cells = sorted({(rng.randrange(1, top + 1), rng.choice(d.CHANNELS)) for _ in range(15)})

    def load(bad: bool) -> None:
        with src.begin() as conn:
            conn.execute(sa.text("DELETE FROM cbpm3_data"))
        d.insert(src, data)
        if bad and spoil(src, "cbpm3_data", cells, rng, integer=True):
            return
        with src.begin() as conn:  # the reference, and where the backend holds no bad value (MariaDB): NULL
            for id_, column in cells:
                conn.execute(sa.text(f"UPDATE cbpm3_data SET {column} = NULL WHERE id = {id_}"))

    cfg = d.settings(dbs, every="10s", keep="2m")
    load(bad=False)
    d.decimate(cfg)
    expected = ([r[0] for r in d.rows(src)], d.rollup(src))
    with src.begin() as conn:
        conn.execute(sa.text("DROP TABLE cbpm3_rollup"))
        conn.execute(sa.text("DROP TABLE decimator_cursor"))
    load(bad=True)
    ahead = [(top + 1 + k, t, "10AE", 5) for k, t in enumerate(future_times(now, rng, rng.randint(1, 4)))]
    d.insert(src, ahead)
    never = unplaced(src, top + 10)
    summary = d.decimate(cfg)
    kept = [r[0] for r in d.rows(src)]
    assert [i for i in kept if i <= top] == expected[0]
    assert set(kept) - set(expected[0]) == {r[0] for r in ahead} | set(never)  # all left alone
    assert d.rollup(src) == expected[1]
    young = now - KEEP
    assert all(r[0] in kept for r in data if r[1] >= young)  # nothing younger than keep deleted
    assert summary.totals.cursor == summary.totals.horizon <= d.slice_of(now - KEEP, EVERY)
    assert summary.before_floor == len(never) and summary.future.count == len(ahead)
