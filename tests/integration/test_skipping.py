"""The database skipping unchanged entries (scraper/sources/sql/skipping.py) must change nothing but the
speed: the same target, the same counts, and restart invariance, compared with judging every entry in
Python; and whatever the log level, the same statements."""
from __future__ import annotations

import logging
import random
from datetime import timedelta

import pytest
import sqlalchemy as sa

from factories import START, AdTempRowFactory, PmtHvRowFactory, create_adtemp, create_pmthv, insert, power_row
from regimes.adtemp import PT
from regimes.adtemp import AdTemp, AdTempScraper
from scraper import Differs, Moved
from scraper.modes import scrape as engine_module
from scraper.modes.scrape import Scrape
from scraper.sources.sql.skipping import Skipper
from support import target_rows

REGIME = {"regime": "regimes.adtemp:AdTemp", "interval": "10s", "maxage": "10m", "threshold": 0.5,
          "timefloor": "2011-02-01 00:00:00", "loglevel": "WARNING"}


def dcs_rows(n: int, seed: int, *, grid: float = 0.0) -> list[dict]:
    """Quiet stretches (maxage), steps in one sensor or another, re-inserted timestamps and gaps: about
    40 entries per propagation, so the database does skip (skipping.MIN_STRETCH). With
    `grid`, values are multiples of it (0.01 against threshold 0.5: differences land on the threshold)."""
    rng = random.Random(seed)
    rows, values, t = [], {c: 20.0 + k for k, c in enumerate(PT)}, START - timedelta(seconds=10)
    for i in range(1, n + 1):
        roll = rng.random()
        if roll < 0.02:
            c = rng.choice(PT)
            values[c] += rng.choice([-1, 1]) * rng.uniform(0.2, 1.2)
        elif roll < 0.025:
            t += timedelta(minutes=rng.choice([3, 7]))  # a gap: the next entry is overage
        if grid:
            values = {c: round(round(v / grid) * grid, 2) for c, v in values.items()}
        dup = rng.random() < 0.02
        if not dup:
            t += timedelta(seconds=10)
        rows.append({"id": i, "date_time": t, **values})
    return rows


# the source of most tests here: each inserts it into its own fresh source, never changed in place
SOURCE_ROWS = dcs_rows(1500, seed=5)


def run(dbs, kls: str, *, stop_after_flushes: int | None = None, **keys) -> Scrape:
    """One catch-up run in-process; with `stop_after_flushes` it is killed (no clean exit: the pending
    group of propagations is lost, as with SIGKILL) when it starts its n-th target transaction."""
    cfg = dbs.settings(**{**REGIME, "kls": kls, **keys})
    engine = Scrape.start(cfg, allow_create=True, catchup=True)
    if stop_after_flushes is not None:
        calls, write_many = [0], engine.writer.write_many

        def crashing(records):
            calls[0] += 1
            if calls[0] >= stop_after_flushes:
                raise Killed
            return write_many(records)

        engine.writer.write_many = crashing
    try:
        engine.run()
    except Killed:
        pass
    finally:
        engine.close()
    return engine


_SHARED: dict[tuple, tuple[list[tuple], Scrape]] = {}


def shared_run(dbs, kls: str, **keys) -> tuple[list[tuple], Scrape]:
    """(target rows, engine) of one run over SOURCE_ROWS, which several tests compare with: run once
    per backend (in each xdist worker) on the first test's own fresh databases, a module fixture keyed
    by backend. Its callers have inserted SOURCE_ROWS unchanged before calling."""
    key = (dbs.backend, kls, tuple(sorted(keys.items())))
    if key not in _SHARED:
        engine = run(dbs, kls, **keys)
        _SHARED[key] = target_rows(dbs.engine("target"), kls), engine
    return _SHARED[key]


def python_run(dbs) -> tuple[list[tuple], Scrape]:
    """Every entry of SOURCE_ROWS judged in Python: the target and counts skipping must equal."""
    return shared_run(dbs, "PythonRef", skip_in_database=False)


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in the engine catches it."""


def test_skipping_in_sql_writes_the_target_and_counts_of_judging_every_entry_in_python(dbs):
    src = dbs.engine("source")
    insert(src, create_adtemp(src), SOURCE_ROWS)
    expected, python = python_run(dbs)
    skipping = run(dbs, "Skipping")
    assert not python.skippers and skipping.skippers
    tgt = dbs.engine("target")
    assert len(expected) > 30
    assert target_rows(tgt, "Skipping") == expected
    p, s = python.summary, skipping.summary
    assert (s.entries_read, s.samples, s.propagations, s.range_utc) == (p.entries_read, p.samples,
                                                                         p.propagations, p.range_utc)
    assert 1450 < s.entries_read <= 1500  # re-inserts of a propagated timestamp lie behind the cursor
    assert s.propagations == len(expected)
    assert s.skipped > 1000  # most entries never reached Python
    assert "judged in SQL" in s.text() and "judged in SQL" not in p.text()
    if dbs.backend == "mariadb":  # the searches chained on the server: a few statements, not one per propagation
        chain = skipping.skippers[skipping.readers[0]].chain
        assert chain is not None and 0 < chain.statements * 4 < s.propagations, (chain, s.propagations)
        assert s.queries < s.propagations / 2


def test_values_on_the_threshold_are_judged_alike_in_sql_and_python(dbs):
    """Readings on a 0.01 grid against threshold 0.5: many differences are 0.5 in decimal but not in
    binary, and MariaDB FLOAT columns hold single-precision values. Moved's slack keeps SQL a superset."""
    src = dbs.engine("source")
    rows = dcs_rows(1200, seed=11, grid=0.01)
    rng = random.Random(3)
    for r in rows:  # steps of exactly +-0.49, 0.50 or 0.51 in PT3
        if rng.random() < 0.1:
            r["Temp_PT3"] = round(22.0 + rng.choice([-0.51, -0.5, -0.49, 0.49, 0.5, 0.51]), 2)
    insert(src, create_adtemp(src), rows)
    run(dbs, "InPython", skip_in_database=False, maxage="1h")
    skipping = run(dbs, "Skipping", maxage="1h")
    tgt = dbs.engine("target")
    assert target_rows(tgt, "Skipping") == target_rows(tgt, "InPython")
    assert skipping.summary.skipped > 0
    if dbs.backend == "mariadb":  # FLOAT slack: SQL's candidates that Python calls unchanged break chains
        chain = skipping.skippers[skipping.readers[0]].chain
        assert chain is not None and chain.broken > 0, chain


def test_skipping_on_joined_tables_of_two_detectors_equals_python(sqlite_dbs):
    src = sqlite_dbs.engine("source")
    tables = create_pmthv(src)
    rng = random.Random(8)
    for k, (hv, pw) in enumerate([tables[:2], tables[2:]]):
        PmtHvRowFactory.reset_sequence()
        rows = PmtHvRowFactory.build_batch(300)
        volts = 1500.0
        for r in rows:
            if rng.random() < 0.03:
                volts += rng.choice([-8.0, 8.0])
            r["L2C3R4"] = volts
        power = [power_row(r) for r in rows]
        for p in power[100 + 40 * k:110 + 40 * k]:
            p["L8C1R1_Pw"] = 0  # a channel switched off for a while: changed through the power table
        insert(src, hv, rows), insert(src, pw, power)
    keys = {"regime": "regimes.pmthv:PmtHv", "maxage": "5m", "threshold": 5.0}
    python = run(sqlite_dbs, "InPython", skip_in_database=False, **keys)
    skipping = run(sqlite_dbs, "Skipping", **keys)
    tgt = sqlite_dbs.engine("target")
    expected = target_rows(tgt, "InPython")
    assert len(expected) > 15
    assert target_rows(tgt, "Skipping") == expected
    assert skipping.summary.entries_read == python.summary.entries_read == 600
    assert skipping.summary.skipped > 300


def test_killed_at_any_target_transaction_and_restarted_gives_the_uninterrupted_target(dbs, monkeypatch):
    src = dbs.engine("source")
    insert(src, create_adtemp(src), dcs_rows(2500, seed=21))
    run(dbs, "Reference", skip_in_database=False)
    expected = target_rows(dbs.engine("target"), "Reference")
    rng = random.Random(2027)
    for trial in range(3 if dbs.backend == "sqlite" else 2):
        kls, runs = f"Killed{trial}", 0
        while True:
            runs += 1
            # groups of 1-7 propagations per commit, a crash at the 1st, 2nd or 3rd commit of a run
            engine = run(dbs, kls, stop_after_flushes=rng.randint(1, 3), batch=rng.choice([1, 50, 1000]),
                         commit_records=rng.randint(1, 7))
            if engine.summary.caught_up:
                break
            assert runs < 200
        assert runs > 2
        assert target_rows(dbs.engine("target"), kls) == expected, f"trial {trial}"


@pytest.mark.parametrize("commit_records", [3, 500])
def test_ids_that_do_not_follow_time_are_caught_and_the_target_stays_exact(dbs, monkeypatch, caplog, commit_records):
    """The seen rows are searched in id order (cheaper), which is exact only where ids follow time. Here
    two blocks of entries were written with their ids reversed, across steps: an id-order search returns
    a later entry than the first candidate. The check before each commit must catch that, and the run
    resume from its last commit in (date_time, id) order, ending with the target and counts of Python."""
    src = dbs.engine("source")
    rows = dcs_rows(1500, seed=5)
    steps = [k for k in range(1, len(rows)) if rows[k]["Temp_PT1"] != rows[k - 1]["Temp_PT1"]
             or rows[k]["Temp_PT2"] != rows[k - 1]["Temp_PT2"]]
    for at in (steps[len(steps) // 3], steps[2 * len(steps) // 3]):  # 80 entries around a step, ids reversed
        block = rows[at - 40:at + 40]
        for row, new_id in zip(block, reversed([r["id"] for r in block])):
            row["id"] = new_id
    insert(src, create_adtemp(src), rows)
    python = run(dbs, "InPython", skip_in_database=False)
    with caplog.at_level(logging.WARNING, logger="scraper.engine"):
        skipping = run(dbs, "Skipping", commit_records=commit_records)
    tgt = dbs.engine("target")
    assert target_rows(tgt, "Skipping") == target_rows(tgt, "InPython")
    p, s = skipping.summary, python.summary
    assert (p.entries_read, p.samples, p.propagations, p.range_utc, p.late) == (
        s.entries_read, s.samples, s.propagations, s.range_utc, s.late)
    warnings = [r.getMessage() for r in caplog.records if "ids do not follow date_time" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "DBNS_SAB_Temp" in warnings[0] and "searching in (date_time, id) order" in warnings[0]
    assert not skipping.skippers[skipping.readers[0]].by_id
    assert p.skipped > 1000  # still judged in SQL, in time order


def test_entries_out_of_id_order_that_are_not_candidates_cost_no_rewind(dbs, monkeypatch, caplog):
    """DCS commits some rows late: a higher id than newer rows. An id-order search does not look at
    them, which is harmless unless one is a candidate; Python judges each (against that stretch's sv[0])
    and, none being one, the run goes on in id order, with the target and counts of Python."""
    src = dbs.engine("source")
    rows = dcs_rows(1500, seed=5)
    insert(src, create_adtemp(src), rows)
    original, _ = python_run(dbs)  # in time order, as the ids are yet
    ends = {record[1] for record in original}  # (TIMESTART, TIMEEND, ...)
    times = [r["date_time"] for r in rows]
    quiet = [k for k in range(1, len(rows) - 1) if times.count(times[k]) == 1  # no twin: same order
             and all(abs(times[k] - end) > timedelta(seconds=30) for end in ends)]
    late = random.Random(8).sample(quiet, 12)
    for n, k in enumerate(sorted(late), 1):  # committed after everything else
        rows[k]["id"] = len(rows) + n
    table = create_adtemp(src)
    with dbs.engine("source").begin() as conn:
        conn.execute(table.delete())  # the table's name quoted as each backend needs it
    insert(src, table, rows)
    python = run(dbs, "InPython", skip_in_database=False)
    judged, judge = [], Skipper._judge_disordered
    monkeypatch.setattr(Skipper, "_judge_disordered", lambda self, sp: (judged.append(sp), judge(self, sp))[1])
    with caplog.at_level(logging.WARNING, logger="scraper.engine"):
        skipping = run(dbs, "Skipping")
    tgt = dbs.engine("target")
    assert target_rows(tgt, "Skipping") == target_rows(tgt, "InPython") == original
    p, s = python.summary, skipping.summary
    assert (s.entries_read, s.propagations, s.range_utc, s.late) == (p.entries_read, p.propagations,
                                                                    p.range_utc, p.late)
    assert len(judged) >= 6  # the out-of-order entries were seen by the check ...
    assert not [r for r in caplog.records if "ids do not follow" in r.getMessage()]  # ... and cleared
    assert skipping.skippers[skipping.readers[0]].by_id


def test_a_row_committed_late_inside_a_skipped_stretch_is_late_and_not_read(dbs, monkeypatch):
    """Searches see only the rows the last late check saw (id <= watermark): a row committed meanwhile
    behind the cursor, in the stretch the database just judged and has not counted yet, is reported
    late once and never counted as read — as reading every entry in Python reports it."""
    src = dbs.engine("source")
    table = create_adtemp(src)
    rows = SOURCE_ROWS
    insert(src, table, rows)
    _, reference = python_run(dbs)
    searches, search = [], Skipper._search_seen

    def search_then_insert(self, params):  # each candidate among the seen rows (chained or not)
        found = search(self, params)  # (row, its span's count where the search counts it)
        searches.append(found[0])
        if len(searches) == 10:  # 5 s before the entry just returned: inside the stretch it ended
            insert(src, table, [{**rows[0], "id": len(rows) + 1, "date_time": found[0][2] - timedelta(seconds=5)}])
        return found

    monkeypatch.setattr(Skipper, "_search_seen", search_then_insert)
    summary = run(dbs, "Late").summary
    assert len(searches) > 10 and summary.skipped > 1000
    assert summary.late == 1
    assert summary.entries_read == reference.summary.entries_read


@pytest.mark.parametrize("keys", [{"offset": 1}, {"maxiter": 50}, {"skip_in_database": False}],
                         ids=["offset", "maxiter", "off"])
def test_every_entry_goes_through_python_where_skipping_would_show(sqlite_dbs, keys):
    """offset counts entries, maxiter counts samples: there the database must not skip, and the switch
    turns it off."""
    src = sqlite_dbs.engine("source")
    insert(src, create_adtemp(src), dcs_rows(100, seed=1))
    engine = run(sqlite_dbs, "Plain", **keys)
    assert not engine.skippers and engine.summary.skipped == 0
    assert engine.summary.entries_read > 0


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING"])
def test_the_log_level_changes_neither_statements_nor_target(dbs, monkeypatch, caplog, level):
    """The same catch-up at DEBUG, INFO and WARNING: the same source statements, the same target and
    counts as a quiet run and as judging every entry in Python. Commit groups by count only here: real
    time (COMMIT_SECONDS) must not be what decides the statements."""
    monkeypatch.setattr(engine_module, "COMMIT_SECONDS", float("inf"))
    src = dbs.engine("source")
    insert(src, create_adtemp(src), SOURCE_ROWS)
    python, reference = python_run(dbs)
    quiet_rows, quiet = shared_run(dbs, "Quiet", loglevel="ERROR")  # the levels share it: all patch COMMIT_SECONDS
    with caplog.at_level(getattr(logging, level), logger="scraper"):
        logged = run(dbs, "Logged", loglevel=level)
    tgt = dbs.engine("target")
    assert target_rows(tgt, "Logged") == quiet_rows == python
    q, g = quiet.summary, logged.summary
    assert (g.queries, g.entries_read, g.skipped, g.propagations) == (q.queries, q.entries_read, q.skipped,
                                                                      q.propagations)
    assert g.skipped > 1000 and g.entries_read == reference.summary.entries_read
    samples = [r for r in caplog.records if r.name == "scraper.sourcevector"]
    assert (len(samples) > 0) == (level == "DEBUG")  # a catch-up: per-sample lines at DEBUG only


class PythonOnlyScraper(AdTempScraper):
    """A free-form changed() (here the rule's own test, written out): judged in Python, no SQL form."""

    def changed(self, sv):
        return any(abs(sv[-1][c] - sv[0][c]) > self.threshold for c in PT)


class PythonOnlyAdTemp(AdTemp):
    scraper = PythonOnlyScraper


def test_a_free_form_changed_is_judged_in_python_with_the_same_target(sqlite_dbs):
    src = sqlite_dbs.engine("source")
    insert(src, create_adtemp(src), dcs_rows(400, seed=1))
    rule = run(sqlite_dbs, "Rule")
    engine = run(sqlite_dbs, "FreeForm", regime="test_skipping:PythonOnlyAdTemp")
    assert not engine.skippers and engine.summary.skipped == 0 and engine.summary.entries_read == 400
    tgt = sqlite_dbs.engine("target")
    assert target_rows(tgt, "FreeForm") == target_rows(tgt, "Rule")


class _Scraper:
    threshold = 0.5


@pytest.mark.parametrize("rule", [Moved(PT, by="threshold"), Differs(PT),
                                  Moved(PT[:2], by="threshold") | Differs(PT[2:]),
                                  Moved(PT[:3], by=0.25) & Differs(PT[3:])], ids=repr)
def test_a_rules_sql_selects_the_rows_its_python_test_calls_changed(dbs, rule):
    """NULL is data: NULL against a value is changed, NULL against NULL unchanged, in both forms; and
    values on the threshold (vs 0.5; single precision on MariaDB) never make SQL miss one."""
    src = dbs.engine("source")
    table = create_adtemp(src)
    rng = random.Random(4)
    choices = [None, 20.0, 20.49, 20.5, 20.51, 21.0, 19.5, 19.49]
    rows = [{"id": k, "date_time": START + timedelta(seconds=10 * k),
             **{c: rng.choice(choices) for c in PT}} for k in range(1, 400)]
    insert(src, table, rows)
    scraper = _Scraper()
    with src.connect() as conn:
        stored = {r["id"]: dict(r) for r in conn.execute(sa.select(table)).mappings()}
    test = rule.python(scraper)
    slack = 0.0 if dbs.backend == "sqlite" else 1e-6
    for old in random.Random(5).sample(list(stored.values()), 12):
        first = {c: sa.literal(old[c], sa.Float) for c in PT}
        cond = rule.sql(scraper, first, table.c, slack)
        with src.connect() as conn:
            in_sql = set(conn.execute(sa.select(table.c.id).where(cond)).scalars())
        in_python = {i for i, new in stored.items() if test(old, new)}
        assert in_python <= in_sql  # never fewer: nothing skipped that Python calls changed
        if dbs.backend == "sqlite":
            # SQLite computes with the very doubles Python sees: more only where a value lies on the
            # threshold itself (Moved's range is lowered by RANGE_SLACK against rounding, rules.py)
            on_edge = {i for i, new in stored.items() for c in PT
                       if None not in (new[c], old[c]) and abs(abs(new[c] - old[c]) - 0.5) < 1e-9}
            assert in_sql - in_python <= on_edge


def test_a_null_power_state_in_sv0_is_a_candidate_not_an_exposed_miss(sqlite_dbs, caplog):
    """Python's `!=` calls any power state changed against a NULL one; SQL's `!=` is NULL there. The
    SQL form must say candidate, not leave it to the under-selection check (which would read the rest
    of the run in Python)."""
    src = sqlite_dbs.engine("source")
    hv, pw = create_pmthv(src)[:2]
    PmtHvRowFactory.reset_sequence()
    rows = PmtHvRowFactory.build_batch(40)
    for r in rows[19:]:
        r["L2C3R4"] = 1520.0  # a step at entry 20, after a stretch long enough to switch to skipping
    power = [power_row(r) for r in rows]
    power[19]["L1C1R1_Pw"] = None  # so sv[0] of the skip searches from entry 20 on has a NULL power state
    insert(src, hv, rows), insert(src, pw, power)
    keys = {"regime": "regimes.pmthv:PmtHv", "maxage": "1h", "threshold": 5.0}
    run(sqlite_dbs, "InPython", skip_in_database=False, **keys)
    with caplog.at_level(logging.ERROR, logger="scraper.engine"):
        skipping = run(sqlite_dbs, "Skipping", **keys)
    tgt = sqlite_dbs.engine("target")
    assert target_rows(tgt, "Skipping") == target_rows(tgt, "InPython")
    assert len(target_rows(tgt, "InPython")) >= 2  # entry 20 (the step) and 21 (power NULL -> 1)
    assert skipping.summary.skipped > 0
    assert skipping.skippers
