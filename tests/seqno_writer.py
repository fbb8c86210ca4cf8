"""The body of one racing writer process of test_seqno_concurrency.py, in a module of its own that
imports only what the engine imports (not the test module's fixtures and factories): a forkserver
imports it once, and each writer is a fresh OS process forked from there, with its own connections,
instead of a spawned interpreter that imports the engine again (half a CPU-second per writer)."""
from __future__ import annotations

import time
from datetime import datetime, timedelta

import sqlalchemy as sa

from scraper import db, modes
from scraper.targets.dbi import Context, DbiTables, DbiWriter

KLS = "DcsRace"
T0 = datetime(2011, 2, 1)
WRITES, ROWS_PER_WRITE = 60, 3
COLUMNS = {"WRITER": sa.Integer, "K": sa.Integer, "VALUE": sa.Float}


def writer(cfg_path: str, writer_id: int, fresh: bool, ready, done) -> None:
    """Child process: connect like the engine does, then write WRITES validity records as fast as possible."""
    cfg = modes.settings(cfg_path, "race")
    engine = db.connect(cfg, "target", writer=True, create=True)
    out = DbiWriter(engine, DbiTables(KLS, COLUMNS))
    ready.wait(60)  # every process connected and imported: now they really run at the same time
    if fresh:  # both processes find an empty target and create it at the same moment
        out.create()
    out.prepare()
    ctx = Context(sitemask=1, subsite=writer_id)
    k = 0
    while k < WRITES:  # single records (live) and groups of 2-3 (catch-up commits), interleaved
        # a scraper reads between propagations; without a pause SQLite's busy handler lets one process
        # take every write in turn
        time.sleep(0.002)
        group = range(k, min(WRITES, k + 1 + k % 3))
        out.write_many([(ctx, T0 + timedelta(seconds=j), T0 + timedelta(seconds=j + 1),
                         [{"WRITER": writer_id, "K": j, "VALUE": j + r / 10} for r in range(ROWS_PER_WRITE)])
                        for j in group])
        k = group.stop
    engine.dispose()
    done.put(writer_id)
