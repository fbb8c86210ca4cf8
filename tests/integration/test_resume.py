"""Resume: the target is the bookmark. Stopping anywhere and restarting changes nothing."""
from __future__ import annotations

import random
import signal
import subprocess
import sys
from datetime import datetime as D, timedelta

import pytest

from factories import AdTempRowFactory, PmtHvRowFactory, create_adtemp, create_pmthv, insert, power_row
from processes import wait_for
from support import SLOW_REGIME, scrape, target_rows, validities

REGIME = {"regime": "regimes.adtemp:AdTemp", "interval": "10s", "maxage": "2m", "threshold": 0.5,
          "timefloor": "2011-02-01 00:00:00"}


def wandering_rows(n: int, seed: int) -> list[dict]:
    """A random walk: some samples change above threshold, long quiet stretches hit maxage."""
    rng = random.Random(seed)
    rows, value = AdTempRowFactory.build_batch(n), 20.0
    for r in rows:
        if rng.random() < 0.08:
            value += rng.choice([-1, 1]) * rng.uniform(0.3, 1.5)
        r["Temp_PT1"] = round(value, 3)
    return rows


def reference(dbs, **keys) -> list[tuple]:
    scrape(dbs.settings(**{**REGIME, **keys, "kls": "RefAdTemp"}))
    return target_rows(dbs.engine("target"), "RefAdTemp")


def test_restart_at_any_sample_gives_identical_target(dbs):
    src = dbs.engine("source")
    insert(src, create_adtemp(src), wandering_rows(400, seed=7))
    expected = reference(dbs)
    assert len(expected) > 20
    rng = random.Random(2026)
    for trial in range(4 if dbs.backend == "sqlite" else 2):
        cfg_keys = {**REGIME, "kls": f"Restarted{trial}", "batch": rng.choice([1, 7, 1000])}
        runs = 0
        while runs < 500:
            stop_after = rng.randint(1, 60)
            summary = scrape(dbs.settings(overrides={"maxiter": stop_after}, **cfg_keys))
            runs += 1
            if summary.caught_up:
                break
        assert 3 < runs < 500
        assert target_rows(dbs.engine("target"), f"Restarted{trial}") == expected, f"trial {trial}"


def test_restart_invariance_holds_for_every_source_of_a_regime(sqlite_dbs):
    src = sqlite_dbs.engine("source")
    tables = create_pmthv(src)
    for k, (hv, pw) in enumerate([tables[:2], tables[2:]]):
        PmtHvRowFactory.reset_sequence()
        rows = PmtHvRowFactory.build_batch(120)
        for r in rows[40 + 10 * k:70]:
            r["L1C1R1"] = 1480.0
        insert(src, hv, rows), insert(src, pw, [power_row(r) for r in rows])
    keys = {"regime": "regimes.pmthv:PmtHv", "interval": "10s", "maxage": "3m", "threshold": 5.0}
    scrape(sqlite_dbs.settings(**keys, kls="RefPmtHv"))
    tgt = sqlite_dbs.engine("target")
    expected = target_rows(tgt, "RefPmtHv")
    assert len(expected) > 3, "the reference run should propagate several times"
    # a run must outlast the 3m maxage (19 samples) to propagate at all: a restart re-reads sv[0]. Each
    # stopping point fills a target of its own from empty, restart after restart
    for stop_after in (20, 27, 41):
        kls = f"Every{stop_after}PmtHv"
        for runs in range(1, 101):
            if scrape(sqlite_dbs.settings(overrides={"maxiter": stop_after}, **keys, kls=kls)).caught_up:
                break
        else:
            pytest.fail(f"maxiter={stop_after}: restarts never reached the end of the source")
        assert runs > 3, f"maxiter={stop_after}: the source should take several interrupted runs, took {runs}"
        assert target_rows(tgt, kls) == expected, f"maxiter={stop_after}"


def test_catchup_in_batches_equals_sample_by_sample_and_live_arrival(dbs):
    src = dbs.engine("source")
    table = create_adtemp(src)
    rows = wandering_rows(600, seed=11)
    insert(src, table, rows)
    one_by_one = reference(dbs, batch=1)
    scrape(dbs.settings(**REGIME, batch=500, kls="Batched"))
    assert target_rows(dbs.engine("target"), "Batched") == one_by_one
    # live arrival: the source grows in uneven chunks while the scraper keeps up
    with src.begin() as conn:
        conn.execute(table.delete())
    rng, at = random.Random(5), 0
    while at < len(rows):
        step = rng.randint(1, 90)
        insert(src, table, rows[at:at + step])
        at += step
        scrape(dbs.settings(**REGIME, batch=13, kls="Live"))
    assert target_rows(dbs.engine("target"), "Live") == one_by_one


def test_validity_records_of_a_source_are_contiguous(sqlite_dbs):
    src = sqlite_dbs.engine("source")
    insert(src, create_adtemp(src), wandering_rows(500, seed=3))
    scrape(sqlite_dbs.settings(**REGIME))
    got = validities(sqlite_dbs.engine("target"), "DcsAdTemp")
    assert all(prev[1] == cur[0] for prev, cur in zip(got, got[1:]))


def test_seed_record_is_planted_once_and_scraping_resumes_from_it(sqlite_dbs):
    src = sqlite_dbs.engine("source")
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(40))
    keys = {**REGIME, "maxage": "1m", "seed_target_tables": True,
            "seed_timestart": "2011-02-01 00:00:00", "seed_timeend": "2011-02-01 00:01:00"}
    scrape(sqlite_dbs.settings(overrides={"maxiter": 9}, **keys))
    scrape(sqlite_dbs.settings(**keys))
    got = validities(sqlite_dbs.engine("target"), "DcsAdTemp")
    t0 = D(2011, 2, 1)
    assert got[0] == (t0, t0 + timedelta(minutes=1))  # the seed
    assert got[1] == (t0 + timedelta(minutes=1), t0 + timedelta(seconds=130))
    assert all(a[1] == b[0] for a, b in zip(got, got[1:]))


def test_seeding_a_production_target_is_refused(sqlite_dbs, tmp_path):
    src = sqlite_dbs.engine("source")
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(5))
    sqlite_dbs.target_url = f"sqlite:///{tmp_path / 'offline_db.db'}"
    cfg = sqlite_dbs.settings(**REGIME, seed_target_tables=True, seed_timestart="2011-02-01 00:00:00",
                              seed_timeend="2011-02-01 00:01:00")
    with pytest.raises(Exception, match=r"\[test\] seed_target_tables: .*production target"):
        scrape(cfg)


def _scr(cfg_path, log, *args) -> subprocess.Popen:
    """stderr into a file: a pipe nobody reads while the run goes on would block its DEBUG lines, so
    every run would stop at the same place (a full pipe), not at a random one."""
    with open(log, "wb") as err:
        return subprocess.Popen([sys.executable, "-m", "scraper", "--cfg", str(cfg_path), "-s", "test", *args],
                                stdout=subprocess.DEVNULL, stderr=err)


def test_killed_scraper_restarts_into_the_same_target(dbs):
    """Runs stopped by SIGKILL and by SIGTERM in turn (both in one catch-up: each restart resumes from
    whatever the last stop left, a crash's half-written group or a clean stop's), then a last run."""
    src = dbs.engine("source")
    # 1500 entries (177 propagations): the size only has to outlast the first two stops (below)
    insert(src, create_adtemp(src), wandering_rows(1500, seed=42))
    expected = reference(dbs)
    # every propagation of the slow regime (what AdTemp writes) takes 20 ms: the whole catch-up lasts
    # seconds on a machine of any speed, so the first runs are always stopped in the middle
    assert len(expected) * 0.02 > 3.0, len(expected)  # longer than two stops 1.5 s into a run

    (dbs.tmp_path / "slow.py").write_text(SLOW_REGIME)  # imported from beside the config file
    path = dbs.write_cfg({"test": {**REGIME, "regime": "slow:Slow", "batch": 5}})
    rng, kills = random.Random(dbs.backend), {signal.SIGKILL: 0, signal.SIGTERM: 0}
    for attempt in range(30):
        signum = (signal.SIGKILL, signal.SIGTERM)[attempt % 2]
        # DEBUG: the per-sample lines of a catch-up (the same decisions at every level) tell when
        # sampling has begun
        log = dbs.tmp_path / f"run{attempt}.log"
        proc = _scr(path, log, "--catchup", "--ALLOW_DROP_CREATE_TABLE", "--loglevel", "DEBUG")
        if rng.random() < 0.25:  # now and then while Python is still starting up
            wait = rng.uniform(0.0, 0.5)
        else:  # mostly a random moment once this run samples, however slow start-up is on a busy machine
            wait_for(lambda: b"SV " in log.read_bytes() or proc.poll() is not None, 60, "the run to sample")
            wait = rng.uniform(0.0, 1.5)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            proc.send_signal(signum)
            kills[signum] += 1
        proc.wait(timeout=60)
        err = log.read_bytes()
        if signum == signal.SIGTERM:  # handled once sampling has begun (earlier: still importing)
            started = b"SV " in err
            assert proc.returncode == 0 or (proc.returncode == -signal.SIGTERM and not started), err.decode()[-2000:]
        if proc.returncode == 0 and all(kills.values()) and b"received" not in err:
            break  # a run that finished on its own: the source is fully scraped
    assert all(kills.values()), kills
    # a last restart over what the stops left, in this process (the processes above are the ones
    # killed; this saves another start-up's imports), with AdTemp, which writes what Slow writes
    scrape(dbs.settings(**REGIME))
    assert target_rows(dbs.engine("target"), "DcsAdTemp") == expected
