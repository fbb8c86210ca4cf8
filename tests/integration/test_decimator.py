"""mode = decimator on real SQLite files and a throwaway MariaDB: what thinning leaves, the rollup, late
entries, dry runs and repeated runs, all compared with an oracle computed from the rows inserted."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

import decimation as d



T0 = datetime(2020, 11, 4, 9, 3, 1, 269367)
REGIME = "regimes.cbpm3:Cbpm3"


@pytest.fixture
def src(dbs):
    engine = dbs.engine("source")
    d.create_table(engine)
    return engine


def test_each_slice_behind_the_horizon_keeps_exactly_the_first_entry_per_instrument(dbs, src):
    data = d.ten_hz(T0, 300)  # 5 min of 3 instruments at 10 Hz
    d.insert(src, data)
    summary = d.decimate(d.settings(dbs))
    ids, roll = d.expected(data, timedelta(minutes=2), timedelta(seconds=10))
    assert [r[0] for r in d.rows(src)] == ids
    assert d.rollup(src) == roll
    assert summary.totals.deleted == len(data) - len(ids)
    assert summary.totals.late == 0
    horizon = d.slice_of(max(r[1] for r in data) - timedelta(minutes=2), timedelta(seconds=10))
    assert summary.totals.cursor == summary.totals.horizon == horizon
    assert "late 0" in summary.text() and f"entries deleted {len(data) - len(ids)}" in summary.text()


@pytest.mark.parametrize("rule", ["first", "last"])
def test_keep_rule_and_a_table_without_groups(dbs, src, rule):
    data = d.ten_hz(T0, 120, instruments=("10AE",))
    d.insert(src, data)
    d.decimate(d.settings(dbs, keep_rule=rule, keep="30s", group_column="", rollup=""))
    ids, _ = d.expected(data, timedelta(seconds=30), timedelta(seconds=10), rule)
    assert [r[0] for r in d.rows(src)] == ids


def test_a_second_run_changes_nothing_and_a_dry_run_changes_nothing(dbs, src):
    data = d.ten_hz(T0, 200)
    d.insert(src, data)
    cfg = d.settings(dbs)
    dry = d.decimate(cfg, dry_run=True)
    assert [r[0] for r in d.rows(src)] == [r[0] for r in data]  # nothing deleted ...
    assert not sa.inspect(src).has_table("cbpm3_rollup")  # ... nor created
    text = dry.text()
    assert text.startswith(f"[{cfg.section}] dry run, nothing changed")
    ids, roll = d.expected(data, timedelta(minutes=2), timedelta(seconds=10))
    per_instr = (len(data) - len(ids)) // 3
    for g in ("10AE", "12W", "15E"):
        assert any(line.split() == [g, str(len(roll) // 3), str(per_instr)] for line in text.splitlines()), text
    first = d.decimate(cfg)
    assert first.totals.deleted == dry.totals.deleted and first.totals.kept == dry.totals.kept
    before = (d.rows(src), d.rollup(src))
    again = d.decimate(cfg)
    assert again.totals.deleted == 0 and (d.rows(src), d.rollup(src)) == before


def test_late_entries_behind_the_cursor_are_counted_thinned_and_merged_into_the_rollup(dbs, src):
    data = d.ten_hz(T0, 300)
    d.insert(src, data)
    cfg = d.settings(dbs, every="1m", keep="1m")
    d.decimate(cfg)
    # The monitor's buffer commits old readings later: behind the cursor, with higher ids. One of them
    # is earlier than the kept entry of its slice, so it must become the kept one.
    top = max(r[0] for r in data)
    late = [(top + 1, T0.replace(second=2, microsecond=0), "10AE", 10_000),
            (top + 2, T0 + timedelta(seconds=75), "12W", -5),
            (top + 3, T0 + timedelta(seconds=76), "12W", 7),
            (top + 4, T0 + timedelta(seconds=80), "NEW", 3)]  # an instrument the slice never had
    d.insert(src, late)
    summary = d.decimate(cfg)
    assert summary.totals.late == 4
    ids, roll = d.expected(data + late, timedelta(minutes=1), timedelta(minutes=1))
    assert [r[0] for r in d.rows(src)] == ids
    assert d.rollup(src) == roll
    with src.connect() as conn:
        late_metric = conn.execute(sa.text("SELECT sum(value) FROM scraper_metrics WHERE name = 'late'")).scalar()
    assert late_metric == 4
    assert d.decimate(cfg).totals.late == 0  # counted once


def test_the_horizon_follows_the_newest_entry_and_thinning_resumes_at_the_cursor(dbs, src):
    data = d.ten_hz(T0, 200)
    d.insert(src, data)
    cfg = d.settings(dbs)
    d.decimate(cfg)
    more = d.ten_hz(T0 + timedelta(seconds=200), 100, first_id=len(data) + 1)
    d.insert(src, more)
    d.decimate(cfg)
    ids, roll = d.expected(data + more, timedelta(minutes=2), timedelta(seconds=10))
    assert [r[0] for r in d.rows(src)] == ids
    assert d.rollup(src) == roll


def test_status_shows_cursor_horizon_and_health_and_metrics_are_written(dbs, src):
    from scraper.runtime.status import section_status

    data = d.ten_hz(T0, 200)
    d.insert(src, data)
    cfg = d.settings(dbs)
    d.decimate(cfg)
    st = section_status(cfg.path, cfg.section)
    assert st.mode == "decimator" and st.health == "OK", st
    assert "cursor 2020-11-04 09:04:20" in st.note and "horizon 2020-11-04 09:04:20" in st.note, st.note
    with src.connect() as conn:
        names = {n for (n,) in conn.execute(sa.text("SELECT DISTINCT name FROM scraper_metrics"))}
    assert {"deleted", "kept", "late", "horizon", "cursor"} <= names
    d.insert(src, d.ten_hz(T0 + timedelta(seconds=200), 600, first_id=len(data) + 1))
    assert section_status(cfg.path, cfg.section).health == "LAGGING"  # 10 min more data, not thinned yet


def test_status_says_never_run_then_explains_a_cursor_past_the_horizon_by_the_keep_it_ran_with(dbs, src):
    """`make demo` thins with `--keep 10m` a section whose keep is 14d: its cursor then lies past the
    horizon status computes, which the note explains instead of leaving the operator to wonder."""
    from scraper.runtime.status import section_status

    d.insert(src, d.ten_hz(T0, 200))
    cfg = d.settings(dbs)  # keep = 2m
    before = section_status(cfg.path, cfg.section)
    assert before.health == "NEVER RUN" and "not thinned yet" in before.note, before
    d.decimate(d.settings(dbs, keep="30s"))
    cfg = d.settings(dbs)  # the section's config file says keep = 2m again
    st = section_status(cfg.path, cfg.section)
    assert st.health == "OK", st
    assert "cursor past the horizon: last thinned with keep = 30s, this section's keep is 2m" in st.note, st.note


def test_a_cursor_table_from_before_the_keep_was_recorded_is_read_then_gains_it(dbs, src):
    from scraper.db import DateTime
    from scraper.modes.decimate.tables import CURSOR_TABLE, cursor_table
    from scraper.runtime.status import section_status

    data = d.ten_hz(T0, 200)
    d.insert(src, data)
    d.decimate(d.settings(dbs, keep="30s"))
    with src.begin() as conn:  # the cursor table as earlier versions wrote it: no keep column
        row = conn.execute(sa.select(*[c for c in cursor_table().c if c.name != "keep_s"])).mappings().one()
        conn.execute(sa.text(f"DROP TABLE {CURSOR_TABLE}"))
        old = sa.Table(CURSOR_TABLE, sa.MetaData(), sa.Column("tablename", sa.String(128), primary_key=True),
                       sa.Column("thinned_until_utc", DateTime, nullable=False),
                       sa.Column("watermark", sa.BigInteger, nullable=False),
                       sa.Column("every_s", sa.Integer, nullable=False),
                       sa.Column("keep_rule", sa.String(8), nullable=False),
                       sa.Column("updated_utc", DateTime, nullable=False))
        old.create(conn)
        conn.execute(old.insert().values(**row))
    cfg = d.settings(dbs)
    st = section_status(cfg.path, cfg.section)
    assert st.health == "OK" and "cursor past the horizon: an earlier run kept less than keep = 2m" in st.note, st
    d.insert(src, d.ten_hz(T0 + timedelta(seconds=200), 100, first_id=len(data) + 1))
    d.decimate(d.settings(dbs, keep="30s"))  # thins on, and records its keep from now on
    cfg = d.settings(dbs)
    assert "last thinned with keep = 30s" in section_status(cfg.path, cfg.section).note


def test_sparse_data_packs_many_slices_into_a_chunk_and_still_keeps_one_per_slice_and_group(dbs, src):
    # one reading every 4 s: a chunk of `batch` entries spans hundreds of slices (over a thousand keepers)
    data = d.ten_hz(T0, 3600, rate=0.25)
    d.insert(src, data)
    summary = d.decimate(d.settings(dbs, batch=5000, every="10s", keep="1m"))
    ids, roll = d.expected(data, timedelta(minutes=1), timedelta(seconds=10))
    assert [r[0] for r in d.rows(src)] == ids
    assert d.rollup(src) == roll
    assert summary.totals.kept > 1000


@pytest.mark.backends("postgresql", reason="timestamptz is PostgreSQL's")
def test_a_timestamptz_table_is_thinned_as_utc_whatever_the_session_time_zone(dbs):
    """Instants are thinned by their UTC slices, also when the server's TimeZone is another one."""
    engine = dbs.engine("source")
    d.create_table(engine, time_kind="instant")
    data = d.ten_hz(T0, 300)
    d.insert(engine, data, zone="+00")
    with engine.begin() as conn:  # a server whose default zone is not UTC: the session would say 09:03+08
        conn.exec_driver_sql(f"ALTER DATABASE {sa.make_url(dbs.source_url).database} SET TimeZone = 'Asia/Shanghai'")
    engine.dispose()
    wrong = dbs.settings(**{"regime": REGIME, "mode": "decimator", "keep": "2m", "every": "10s",
                            "source_tz": "Asia/Shanghai"})
    with pytest.raises(Exception, match="source_tz: is Asia/Shanghai, but table \"cbpm3_data\" stores"):
        d.decimate(wrong)
    summary = d.decimate(d.settings(dbs))
    ids, roll = d.expected(data, timedelta(minutes=2), timedelta(seconds=10))
    assert summary.totals.deleted == len(data) - len(ids)
    with engine.connect() as conn:
        left = [r[0] for r in conn.exec_driver_sql("SELECT id FROM cbpm3_data ORDER BY id")]
    assert left == ids
    assert d.rollup(engine) == roll  # slice_utc: the UTC slice starts

