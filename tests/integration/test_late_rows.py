"""Late and duplicate source rows (docs/fakers.md#late-and-duplicate-rows).

Policy under test:
- equal timestamps are ordered by id and every one of them is sampled, whether it arrives in the same
  batch as its twin or is committed later (as long as the cursor has not moved past its time);
- a row committed behind the scraper's position (older date_time than entries already read) is never
  propagated — that would rewrite closed validity ranges — but it is counted once, logged as a WARNING
  and reported in the run summary: nothing is lost silently.
"""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa

from factories import START, STEP, AdTempRowFactory, create_adtemp, insert
from scraper.modes.scrape import Scrape
from support import scrape, target_rows, validities

REGIME = {"regime": "regimes.adtemp:AdTemp", "interval": "10s", "maxage": "1h", "threshold": 0.5,
          "timefloor": "2011-02-01 00:00:00"}


def twin_rows(n: int, change_at: int) -> list[dict]:
    """Every timestamp written twice (ids 2k+1, 2k+2); the second twin at `change_at` jumps by 1 degree."""
    rows = []
    for k in range(n):
        for twin in (0, 1):
            value = 21.0 if (k, twin) >= (change_at, 1) else 20.0
            rows.append(AdTempRowFactory.build(id=2 * k + twin + 1, date_time=START + k * STEP, Temp_PT1=value))
    return rows


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_equal_timestamps_are_ordered_by_id_and_every_one_is_sampled(dbs, batch):
    src = dbs.engine("source")
    rows = twin_rows(30, change_at=10)
    insert(src, create_adtemp(src), rows)
    summary = scrape(dbs.settings(**REGIME, batch=batch))
    assert summary.samples == len(rows)  # both twins of every timestamp, none skipped
    # the change sits in the SECOND twin: only id order makes it the entry that proceeds
    assert validities(dbs.engine("target"), "DcsAdTemp") == [(START, START + 10 * STEP)]
    (only,) = target_rows(dbs.engine("target"), "DcsAdTemp")
    assert only[-1][0][1] == 21.0  # (ROW_COUNTER, Temp_PT1, ...)


def test_a_twin_committed_after_its_timestamp_was_read_is_still_picked_up(dbs):
    src = dbs.engine("source")
    table = create_adtemp(src)
    rows = [AdTempRowFactory.build(Temp_PT1=20.0) for _ in range(20)]
    insert(src, table, rows)
    engine = Scrape.start(dbs.settings(**REGIME), allow_create=True, catchup=True)
    try:
        first = engine.run()
        assert first.samples == 20 and first.propagations == 0
        # the DCS re-inserts the newest reading with a changed value: same date_time, higher id
        insert(src, table, [{**rows[-1], "id": 21, "Temp_PT1": 21.0}])
        second = engine.run()
        assert second.samples == 21 and second.late == 0
        assert second.propagations == 1
    finally:
        engine.close()
    assert validities(dbs.engine("target"), "DcsAdTemp") == [(rows[0]["date_time"], rows[-1]["date_time"])]


def test_rows_committed_late_behind_the_cursor_are_counted_once_and_logged(dbs, caplog):
    src = dbs.engine("source")
    table = create_adtemp(src)
    rows = AdTempRowFactory.build_batch(100)
    insert(src, table, rows)
    engine = Scrape.start(dbs.settings(**{**REGIME, "maxage": "3m"}), allow_create=True, catchup=True)
    try:
        assert engine.run().late == 0
        propagated = validities(dbs.engine("target"), "DcsAdTemp")
        late = [AdTempRowFactory.build(date_time=rows[k]["date_time"] + timedelta(seconds=5), Temp_PT1=99.0)
                for k in (20, 50, 98)]
        on_time = AdTempRowFactory.build_batch(10)
        with caplog.at_level(logging.WARNING, logger="scraper.reader"):
            insert(src, table, late)
            insert(src, table, on_time)
            summary = engine.run()
        assert summary.late == 3
        assert summary.samples == 110  # the on-time rows were read; the late ones could not be
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "DBNS_SAB_Temp: 3 entries committed late behind the cursor" in warnings[0]
        assert str(late[0]["date_time"]) in warnings[0] and str(late[-1]["date_time"]) in warnings[0]
        assert "late entries not propagated 3" in summary.text()
        # nothing was rewritten: the validity records written before are still there, unchanged
        assert validities(dbs.engine("target"), "DcsAdTemp")[:len(propagated)] == propagated
        assert engine.run().late == 3  # counted once, not again at every query
    finally:
        engine.close()
    metrics = sa.Table("scraper_metrics", sa.MetaData(), autoload_with=dbs.engine("target"))
    with dbs.engine("target").connect() as conn:
        late_metric = conn.execute(sa.select(sa.func.sum(metrics.c.value)).where(metrics.c.name == "late")).scalar()
    assert late_metric == 3  # the per-period `late` counter of scraper_metrics adds up to the same count


def test_late_rows_before_the_timefloor_are_not_reported(sqlite_dbs):
    src = sqlite_dbs.engine("source")
    table = create_adtemp(src)
    insert(src, table, AdTempRowFactory.build_batch(50))
    floor = START + 20 * STEP
    engine = Scrape.start(sqlite_dbs.settings(**{**REGIME, "timefloor": str(floor)}), allow_create=True, catchup=True)
    try:
        engine.run()
        insert(src, table, [AdTempRowFactory.build(date_time=START + STEP), AdTempRowFactory.build(date_time=floor)])
        assert engine.run().late == 1  # the one at the floor counts, the one below it is ignored like any other
    finally:
        engine.close()


def test_restart_on_a_timestamp_written_twice_resumes_from_the_twin_that_was_propagated(dbs):
    """The bookmark is a time; when two entries share it, a replay of the last validity range tells
    which twin ended it, so restarting there gives the same target as one uninterrupted run."""
    src = dbs.engine("source")
    rows = twin_rows(60, change_at=10)
    for k in (25, 40):  # two more changes, each on a second twin
        for r in rows[2 * k + 1:]:
            r["Temp_PT1"] += 1.0
    insert(src, create_adtemp(src), rows)
    keys = {**REGIME, "maxage": "2m"}
    scrape(dbs.settings(**keys, kls="RefAdTemp"))
    expected = target_rows(dbs.engine("target"), "RefAdTemp")
    assert len(expected) >= 4
    for kls, stop_every in (("Restarted31", 31), ("Restarted47", 47)):  # outlast maxage to progress
        for _ in range(100):
            if scrape(dbs.settings(overrides={"maxiter": stop_every}, **keys, kls=kls)).caught_up:
                break
        assert target_rows(dbs.engine("target"), kls) == expected, kls
