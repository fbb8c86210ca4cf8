"""Bridge: entries dated ahead of the wall clock wait for their time, entries without a usable time
are counted, and no lag is negative (docs/operations.md, data that cannot be trusted)."""
from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

import pytest

from bridge_support import BRIDGE, PT, add_rows, bridged, create_source, dcs_rows, query
from scraper import commands
from scraper.core import wallclock
from untrusted import future_times, spoil, utc_now


def run(dbs, name: str, **keys):
    cfg = dbs.settings(**{**BRIDGE, "target": f"sqlite:///{dbs.tmp_path / 'grafana' / name}", **keys})
    return commands.run(cfg, catchup=True)


def test_future_and_timeless_entries_are_counted_not_bridged_and_no_lag_is_negative_real_clock(dbs, caplog):
    src = dbs.engine("source")
    create_source(src)
    now = utc_now()
    rows = dcs_rows(150, start=now - timedelta(minutes=30))
    add_rows(src, rows)
    run(dbs, "clean.db")
    top = rows[-1]["id"]
    soon = {**rows[-1], "id": top + 3, "date_time": now + timedelta(minutes=2)}  # within future_tolerance
    add_rows(src, [{**rows[0], "id": top + 1, "date_time": datetime(2099, 1, 1)},
                   {**rows[1], "id": top + 2, "date_time": now + timedelta(days=1)},
                   {**rows[2], "id": top + 4, "date_time": datetime(1970, 1, 1, 0, 0, 1)}, soon])
    with caplog.at_level(logging.WARNING, logger="scraper.future"):
        summary = run(dbs, "live.db")
    clean = bridged(dbs.tmp_path / "grafana" / "clean.db")
    got = bridged(dbs.tmp_path / "grafana" / "live.db")
    assert got[:-1] == clean and len(got) == len(clean) + 1  # and the one 2 minutes ahead, last
    assert summary.future == 2 and summary.before_floor == 1
    text = summary.text()
    assert "entries ahead of the clock not read yet 2" in text and "entries before timefloor ignored 1" in text
    assert sum("ahead of the clock" in r.getMessage() for r in caplog.records) == 2
    lags = query(dbs.tmp_path / "grafana" / "live.db", "SELECT value FROM bridge_totalLag")
    assert lags and all(v is None or v >= 0 for (v,) in lags)


def test_a_future_entry_is_bridged_in_its_place_once_the_clock_reaches_it(dbs, monkeypatch):
    src = dbs.engine("source")
    create_source(src)
    real = wallclock.now_utc()
    rows = dcs_rows(100, start=real - timedelta(minutes=20))
    add_rows(src, rows)
    ahead = {**rows[5], "id": rows[-1]["id"] + 1, "date_time": real + timedelta(hours=1)}
    add_rows(src, [ahead])
    monkeypatch.setattr(wallclock, "now_utc", lambda: real)
    first = run(dbs, "live.db")
    assert first.entries == len(rows) and first.future == 1
    monkeypatch.setattr(wallclock, "now_utc", lambda: real + timedelta(hours=2))
    second = run(dbs, "live.db")
    assert second.entries == 1 and second.future == 0 and second.late == 0
    got = bridged(dbs.tmp_path / "grafana" / "live.db")
    assert len(got) == len(rows) + 1 and got[-1][1:] == tuple(ahead[c] for c in ahead if c.startswith("Temp"))


@pytest.mark.parametrize("seed", [1, 2])
def test_bad_rows_among_live_entries_bridge_like_the_same_source_without_them(dbs, seed):
    """Property: random bad rows (future by minutes to decades, 1970, NULL times, values of the wrong
    kind) among live entries near the real clock: the bridged file is that of the source without them,
    bad values NULL, future rows not yet there."""
    src = dbs.engine("source")
    create_source(src, nullable=True)
    rng = random.Random(seed)
    now = utc_now()
    rows = dcs_rows(200, start=now - timedelta(minutes=40), seed=seed)
    top = rows[-1]["id"]
    cells = sorted({(rng.randrange(1, top + 1), rng.choice(PT)) for _ in range(10)})
    clean = [dict(r) for r in rows]
    for id_, column in cells:
        clean[id_ - 1][column] = None
    add_rows(src, clean)
    run(dbs, "clean.db")
    spoiled = spoil(src, "DBNS_SAB_Temp", cells, rng)
    ahead = [{**rows[0], "id": top + 1 + k, "date_time": t} for k, t in enumerate(future_times(now, rng, 3))]
    timeless = [{**rows[k], "id": top + 10 + k, "date_time": None} for k in range(rng.randint(1, 3))]
    add_rows(src, ahead + [{**rows[0], "id": top + 9, "date_time": datetime(1970, 1, 1)}] + timeless)
    summary = run(dbs, "live.db")
    assert bridged(dbs.tmp_path / "grafana" / "live.db") == bridged(dbs.tmp_path / "grafana" / "clean.db")
    assert summary.future == 3 and summary.before_floor == 1 + len(timeless) and summary.wrong == spoiled


def test_a_bookmark_left_ahead_of_the_clock_by_an_older_version_is_set_back_losing_nothing(dbs, caplog):
    """An older version bridged a row dated 2099 (and moved its bookmark there): every later entry was
    held back. Written by hand into the file with raw SQL; the next run sets the bookmark back, drops
    the copy of the 2099 row, bridges what came since, and the file is that of a run that never met it."""
    import sqlite3

    src = dbs.engine("source")
    create_source(src)
    now = utc_now()
    rows = dcs_rows(200, start=now - timedelta(minutes=40), seed=3)
    old, new = rows[:120], rows[120:]
    top = rows[-1]["id"]
    future = {**rows[0], "id": top + 1, "date_time": datetime(2099, 1, 1, 12)}
    add_rows(src, old + [future])
    live = dbs.tmp_path / "grafana" / "live.db"
    run(dbs, "live.db")
    con = sqlite3.connect(live)  # what the older version wrote: the 2099 point, and its bookmark
    with con:
        columns = [r[1] for r in con.execute('PRAGMA table_info("DBNS_SAB_Temp")')]
        unix = (future["date_time"] - datetime(1970, 1, 1)).total_seconds()
        con.execute(f'INSERT INTO "DBNS_SAB_Temp" VALUES ({", ".join("?" for _ in columns)})',
                    [unix] + [future[c] for c in columns[1:]])
        con.execute("UPDATE bridge_position SET date_time = '2099-01-01 12:00:00', id = ?, max_id = ? "
                    "WHERE tablename = 'DBNS_SAB_Temp'", (future["id"], future["id"]))
    con.close()
    add_rows(src, [{**r, "id": r["id"] + 1000} for r in new])  # committed since, ids above the 2099 row
    with caplog.at_level(logging.WARNING, logger="scraper.bridge"):
        summary = run(dbs, "live.db")
    said = [r.getMessage() for r in caplog.records if "bookmark" in r.getMessage()]
    assert len(said) == 1 and "ahead of the clock" in said[0] and "1 point(s) after it deleted" in said[0], said
    assert summary.entries == len(new) and summary.future == 1 and summary.late == 0
    run(dbs, "clean.db")  # the same source, bridged by a version that never met the 2099 row
    assert bridged(live) == bridged(dbs.tmp_path / "grafana" / "clean.db")
    assert len(bridged(live)) >= len(rows)
