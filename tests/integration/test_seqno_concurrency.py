"""SEQNO allocation under concurrent writers: two OS processes writing into one target.

Two scrapers (two sections, two regimes, or two detectors) may share one `kls` and so one LOCALSEQNO
row; a SEQNO handed out twice would attach one process's payload to the other's validity record.
"""
from __future__ import annotations

import multiprocessing
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from factories import AdTempRowFactory, create_adtemp, insert
from processes import with_modules
from scraper import commands
from seqno_writer import COLUMNS, KLS, ROWS_PER_WRITE, T0, WRITES, writer
from support import SLOW_REGIME, target_rows


def race(dbs, writers: int, fresh: bool) -> None:
    cfg = dbs.write_cfg({"race": {"regime": "regimes.adtemp:AdTemp"}})
    if not fresh:
        from scraper import modes
        from scraper import db
        from scraper.targets.dbi import DbiTables, DbiWriter

        settings = modes.settings(str(cfg), "race")
        engine = db.connect(settings, "target", writer=True, create=True)
        DbiWriter(engine, DbiTables(KLS, COLUMNS)).create()
        engine.dispose()
    mp = multiprocessing.get_context("forkserver")
    mp.set_forkserver_preload(["seqno_writer"])  # the engine imported once, by the server the writers fork from
    ready, done = mp.Barrier(writers), mp.Queue()
    procs = [mp.Process(target=writer, args=(str(cfg), w, fresh, ready, done)) for w in range(1, writers + 1)]
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        assert [p.exitcode for p in procs] == [0] * writers
        assert sorted(done.get(timeout=5) for _ in procs) == list(range(1, writers + 1))
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()


def check_target(engine: sa.Engine, writers: int) -> None:
    md = sa.MetaData()
    vld = sa.Table(f"{KLS}Vld", md, autoload_with=engine)
    payload = sa.Table(KLS, md, autoload_with=engine)
    ls = sa.Table("LOCALSEQNO", md, autoload_with=engine)
    with engine.connect() as conn:
        vrows = conn.execute(sa.select(vld.c.SEQNO, vld.c.SUBSITE, vld.c.TIMESTART)).all()
        prows = conn.execute(sa.select(payload.c.SEQNO, payload.c.ROW_COUNTER, payload.c.WRITER, payload.c.K)).all()
        last = dict(conn.execute(sa.select(ls.c.TABLENAME, ls.c.LASTUSEDSEQNO)).all())
    seqnos = [r.SEQNO for r in vrows]
    order = [r.SUBSITE for r in sorted(vrows)]
    assert sum(a != b for a, b in zip(order, order[1:])) > 5, "the writers did not overlap: no race was tested"
    assert len(seqnos) == writers * WRITES
    assert len(set(seqnos)) == len(seqnos), "a SEQNO was handed out twice"
    assert last[KLS] == max(seqnos) == len(seqnos), "LOCALSEQNO must equal the highest SEQNO, no holes"
    assert last["*"] == 0
    by_seqno = {r.SEQNO: r for r in vrows}
    counters = defaultdict(list)
    for p in prows:
        v = by_seqno[p.SEQNO]  # every payload row has exactly one validity record (SEQNO is unique)
        assert v.SUBSITE == p.WRITER and v.TIMESTART == T0 + timedelta(seconds=p.K), \
            "a payload row sits under another writer's validity record"
        counters[p.SEQNO].append(p.ROW_COUNTER)
    assert set(counters) == set(seqnos)
    assert all(sorted(c) == list(range(1, ROWS_PER_WRITE + 1)) for c in counters.values())
    for w in range(1, writers + 1):  # each process's own records are in SEQNO order
        mine = sorted((r.SEQNO, r.TIMESTART) for r in vrows if r.SUBSITE == w)
        assert [t for _, t in mine] == [T0 + timedelta(seconds=k) for k in range(WRITES)]


def test_two_processes_never_share_a_seqno(dbs):
    race(dbs, writers=2, fresh=False)
    check_target(dbs.engine("target"), writers=2)


def test_three_processes_creating_an_empty_target_at_once(dbs):
    race(dbs, writers=3, fresh=True)
    check_target(dbs.engine("target"), writers=3)


def test_two_scraper_processes_into_one_kls_match_their_solo_runs(dbs, tmp_path):
    """Two real `scr.py` processes (two sections, TASK 0 and 1) catch up into the same DcsAdTemp at once.
    Each chain must equal what that section writes alone, and the SEQNOs must still be unique. With
    commit_records = 1 every propagation is its own transaction, so the two interleave finely."""
    src = dbs.engine("source")
    rows = AdTempRowFactory.build_batch(400)
    for r in rows:  # PT1 alternates every 3rd entry: a propagation roughly every 30 s of DB time
        r["Temp_PT1"] = 20.0 + 2.0 * ((r["id"] // 3) % 2)
    insert(src, create_adtemp(src), rows)
    common = {"regime": "regimes.adtemp:AdTemp", "interval": "10s", "maxage": "1m", "threshold": 1.0,
              "timefloor": "2011-02-01 00:00:00", "commit_records": 1, "batch": 1}
    # the racing two with 20 ms per propagation: each runs for seconds, so they overlap however
    # unevenly a busy machine starts them
    (tmp_path / "slow.py").write_text(SLOW_REGIME)
    sections = {"task0": {**common, "regime": "slow:Slow", "task": 0},
                "task1": {**common, "regime": "slow:Slow", "task": 1},
                "solo": {**common, "kls": "SoloAdTemp", "task": 0}}
    cfg = dbs.write_cfg(sections)
    scr = [str(Path(sys.executable).with_name("scr.py"))]
    env = with_modules(tmp_path)
    run = lambda section: subprocess.Popen(  # noqa: E731
        [*scr, "--cfg", str(cfg), "-s", section, "--catchup", "--ALLOW_DROP_CREATE_TABLE"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    # the reference, in this process: what the section writes alone (the race is between real processes)
    commands.run(commands.settings(str(cfg), "solo", {}), allow_create=True, catchup=True)
    procs = [run("task0"), run("task1")]
    try:
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], outs
    tgt = dbs.engine("target")
    expected = target_rows(tgt, "SoloAdTemp")
    assert len(expected) > 50
    got = target_rows(tgt, "DcsAdTemp")
    for task in (0, 1):
        chain = [r for r in got if r[5] == task]
        assert [r[:5] + r[6:] for r in chain] == [r[:5] + r[6:] for r in expected], f"task {task}"
    vld = sa.Table("DcsAdTempVld", sa.MetaData(), autoload_with=tgt)
    with tgt.connect() as conn:
        seqnos = conn.execute(sa.select(vld.c.SEQNO)).scalars().all()
        order = conn.execute(sa.select(vld.c.TASK).order_by(vld.c.SEQNO)).scalars().all()
    assert sum(a != b for a, b in zip(order, order[1:])) > 5, "the two scrapers did not overlap"
    assert len(seqnos) == 2 * len(expected) and max(seqnos) == len(set(seqnos)) == len(seqnos)
    assert Counter(r[5] for r in got) == {0: len(expected), 1: len(expected)}
