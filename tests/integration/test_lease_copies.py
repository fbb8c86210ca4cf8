"""Two or three copies of one section started together, as two hosts running the same supervisord
files do: one holds the section's lease and writes, the others stand by. The writer is SIGKILLed or
frozen (SIGSTOP, then SIGCONT once another copy took over) at a random moment; whatever happens, the
copies together write exactly what one uninterrupted run writes — for the scraper, the averager, the
bridge and the decimator, on every backend."""
from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

import pytest
import sqlalchemy as sa

import decimation as d
import factories
from bridge_support import BRIDGE, add_rows, bridged, count, create_source, dcs_rows, query
from factories import create_adtemp, create_lid, insert
from processes import running, scalar, spawn, terminate, wait_for
from scraper import commands
from scraper.runtime import status
from scraper.runtime.lease import holder
from support import SLOW_REGIME, slow_regime, target_rows
from test_resume import REGIME, wandering_rows

LEASE = {"lease_timeout": "2s", "loglevel": "DEBUG"}  # DEBUG: per-sample lines make a catch-up last long enough
AVG = {"regime": "regimes.adlid:AdLid", "mode": "averager", "timefloor": "2011-01-01 00:00:00",
       "aggregate": "avg,min,max,std", "aggregate_skips": "id,date_time,Quality",
       "aggregate_filter": "Quality != 0", "bin": "1h", "territory": "1h"}
# 7.5 minutes at 10 Hz of 5 instruments, thinned in 66 chunks of one 5 s slice (250 entries) each: as
# many chunks to disrupt as 15 minutes in slices of 10 s, at half the entries to write and thin
FAKER = {"regime": "regimes.cbpm3:Cbpm3", "mode": "faker", "source_tz": "UTC", "interval": "0.1s",
         "faker_timestart": "2020-11-04 09:03:01", "sleep": 0, "maxiter": 4500}
DECIMATOR = {"regime": "regimes.cbpm3:Cbpm3", "mode": "decimator", "source_tz": "UTC", "keep": "2m",
             "every": "5s", "batch": 200, "rollup": "cbpm3_rollup", "sleep": "0.2s"}


@dataclass
class Case:
    """One mode's section over a prepared source: how far a run has got, and what it wrote."""

    cfg: Path
    section: str
    written: sa.Engine  # the database the section writes (where its lease lives)
    progress: Callable[[], int]
    state: Callable[[], object]
    expected: object


def rows_in(engine: sa.Engine, table: str) -> int:
    """0 while the holder has not created the table yet."""
    if not sa.inspect(engine).has_table(table):
        return 0
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar()


def _run(cfg: Path, section: str, **overrides) -> None:
    commands.run(commands.settings(str(cfg), section, {k: str(v) for k, v in overrides.items()}),
                 allow_create=True, catchup=True)


def scraper_case(dbs, lease: dict = LEASE) -> Case:
    src = dbs.engine("source")
    # 20 ms a propagation (SLOW_REGIME, imported from beside the config), 177 of them: the copies' work
    # outlasts two disruptions on any machine, where 3000 plain entries could be done before the second
    insert(src, create_adtemp(src), wandering_rows(1500, seed=42))
    (dbs.tmp_path / "slow.py").write_text(SLOW_REGIME)
    cfg = dbs.write_cfg({"ref": {**REGIME, "kls": "RefAdTemp"},
                         "copies": {**REGIME, "regime": "slow:Slow", "batch": 5, **lease}})
    _run(cfg, "ref")
    tgt = dbs.engine("target")
    return Case(cfg, "copies", tgt, lambda: rows_in(tgt, "DcsAdTempVld"),
                lambda: target_rows(tgt, "DcsAdTemp"), target_rows(tgt, "RefAdTemp"))


# The AD lid regime with a slow target, as SLOW_REGIME is for the scraper: 25 ms a bin, so 200 bins last
# seconds on a machine of any speed, asleep rather than busy. It writes exactly what AdLid writes.
SLOW_AVERAGER = slow_regime("regimes.adlid", "AdLid", 0.025, name="SlowAdLid")


def averager_case(dbs, lease: dict = LEASE) -> Case:
    src = dbs.engine("source")
    # 200 hourly bins of 10 entries (every 7th flagged bad): the copies' sleep, not the bins' size or
    # number, makes their work outlast two disruptions (each lands after at most 40 more bins)
    create_lid(src, factories.lid_rows(2000, datetime(2011, 2, 1), timedelta(minutes=6), seed=3, sigma=0.2))
    (dbs.tmp_path / "slow_lid.py").write_text(SLOW_AVERAGER)
    cfg = dbs.write_cfg({"ref": {**AVG, "kls": "RefAdLid"},
                         "copies": {**AVG, "regime": "slow_lid:SlowAdLid", **lease}})
    _run(cfg, "ref")
    tgt = dbs.engine("target")
    return Case(cfg, "copies", tgt, lambda: rows_in(tgt, "DcsAdLidSensorVld"),
                lambda: target_rows(tgt, "DcsAdLidSensor"), target_rows(tgt, "RefAdLid"))


def bridge_case(dbs, lease: dict = LEASE) -> Case:
    src = dbs.engine("source")
    create_source(src)
    # 800 batches of 10 entries: as many commits to disrupt as 20000 entries in batches of 25 (a batch,
    # not an entry, is what costs a copy its time), at two fifths of the entries to write and bridge
    add_rows(src, dcs_rows(8000, twins=0.1, seed=6))
    live, ref = dbs.tmp_path / "grafana" / "live.db", dbs.tmp_path / "reference" / "live.db"
    keys = {**BRIDGE, "batch": 10}
    cfg = dbs.write_cfg({"ref": {**keys, "target": f"sqlite:///{ref}"},
                         "copies": {**keys, "target": f"sqlite:///{live}", **lease}})
    _run(cfg, "ref")

    def state(path: Path) -> tuple[list, list]:
        return bridged(path), query(path, "SELECT tablename, date_time, id, entries, max_id FROM bridge_position")

    engine = sa.create_engine(f"sqlite:///{live}")
    return Case(cfg, "copies", engine, lambda: count(live) if live.exists() else 0, lambda: state(live), state(ref))


def decimator_case(dbs, lease: dict = LEASE) -> Case:
    cfg = dbs.write_cfg({"prefill": {**FAKER, "source": dbs.source_url},
                         "ref_prefill": {**FAKER, "source": dbs.target_url},
                         "copies": {**DECIMATOR, "source": dbs.source_url, **lease},
                         "ref": {**DECIMATOR, "source": dbs.target_url}})
    _run(cfg, "prefill")
    _run(cfg, "ref_prefill")
    _run(cfg, "ref")
    src, ref = dbs.engine("source"), dbs.engine("target")
    total = scalar(src, "SELECT count(*) FROM cbpm3_data")
    return Case(cfg, "copies", src, lambda: total - scalar(src, "SELECT count(*) FROM cbpm3_data"),
                lambda: (d.rows(src), d.rollup(src)), (d.rows(ref), d.rollup(ref)))


CASES = {"scraper": scraper_case, "averager": averager_case, "bridge": bridge_case, "decimator": decimator_case}


def frozen_with_the_lock(engine: sa.Engine, section: str = "copies") -> bool:
    """The frozen copy was stopped inside a commit, so it holds the lock a takeover needs until it runs
    again: SQLite's write lock on the file (no server ends its transaction); on a server, the lease row's
    lock (taken by the fencing statement, released by the COMMIT it never got to, or by the server ending
    the idle transaction). Locked throughout a second of tries, not by a commit of a live copy that
    happened to be under way."""
    if engine.dialect.name != "sqlite":
        for _ in range(5):
            try:
                with engine.begin() as conn:
                    conn.execute(sa.text("SELECT epoch FROM scraper_leases WHERE section = :s FOR UPDATE NOWAIT"),
                                 {"s": section})
                return False
            except sa.exc.DBAPIError as exc:  # only "locked": MariaDB 1205/3572, PostgreSQL 55P03
                orig = exc.orig
                if getattr(orig, "sqlstate", None) != "55P03" and getattr(orig, "args", [None])[0] not in (1205, 3572):
                    raise
                time.sleep(0.2)
        return True
    for _ in range(5):
        con = sqlite3.connect(engine.url.database, timeout=0.05)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.rollback()
            return False
        except sqlite3.OperationalError:
            time.sleep(0.2)
        finally:
            con.close()
    return True


def _holding(case: Case, procs: dict[int, subprocess.Popen]):
    """(epoch, process) of the copy holding the lease now, if one of `procs` does."""
    row = holder(case.written, case.section)
    if row is None or row.free:
        return None
    proc = procs.get(int(row.holder.rsplit(":", 1)[1]))
    return (row.epoch, proc) if proc is not None else None


@pytest.mark.parametrize("mode", list(CASES))
def test_copies_of_a_section_write_what_one_uninterrupted_run_writes(dbs, mode):
    """Three copies: the holder is frozen (a standby takes over; thawed, it is fenced), then the new
    holder is SIGKILLed (the last standby takes over). Both must land: a case of two copies and one
    SIGKILL alone would repeat the second half of this one."""
    copies, signals = 3, [signal.SIGSTOP, signal.SIGKILL]
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    case = CASES[mode](dbs)
    procs = {}
    for k in range(copies):
        p = spawn(case.cfg, case.section, "--catchup", "--ALLOW_DROP_CREATE_TABLE", log=dbs.tmp_path / f"copy{k}.log")
        procs[p.pid] = p
    logs = lambda: "\n".join(f"--- copy{k}\n" + (dbs.tmp_path / f"copy{k}.log").read_text()[-3000:]  # noqa: E731
                             for k in range(copies))
    killed, hits = set(), 0
    with running(*procs.values()):
        alive = {pid: p for pid, p in procs.items()}
        for signum in signals:
            wait_for(lambda: _holding(case, alive) is not None or all(p.poll() is not None for p in alive.values()),
                     120, f"a copy holding the section (seed {seed})")
            held = _holding(case, alive)
            if held is None:
                break  # every copy has finished: nothing left to disrupt
            epoch, victim = held
            # a random moment of its work: some more rows written, then anywhere inside a transaction
            goal = case.progress() + rng.randint(1, 40)
            wait_for(lambda: case.progress() >= goal or victim.poll() is not None, 120, f"progress (seed {seed})")
            time.sleep(rng.random() * 0.05)
            if victim.poll() is not None:
                continue
            victim.send_signal(signum)
            hits += 1
            del alive[victim.pid]
            others = list(alive.values())
            if signum == signal.SIGKILL:
                victim.wait(30)
                killed.add(victim.pid)
                # a standby takes over within lease_timeout (2 s) of the death
                wait_for(lambda: (h := holder(case.written, case.section)) is not None and h.epoch > epoch,
                         60, f"a standby taking over from the killed copy (seed {seed})\n{logs()}")
            else:
                wait_for(lambda: (h := holder(case.written, case.section)) is not None and h.epoch > epoch
                         or all(p.poll() is not None for p in others)
                         or (case.written.dialect.name == "sqlite" and frozen_with_the_lock(case.written)), 60,
                         f"a standby taking over from the frozen copy (seed {seed})\n{logs()}")
                victim.send_signal(signal.SIGCONT)  # wakes up believing it holds the section: fenced
                alive[victim.pid] = victim
        for pid, p in procs.items():
            if pid not in killed:
                p.wait(180)
                assert p.returncode == 0, f"copy {pid} exited {p.returncode} (seed {seed})\n{logs()}"
    assert hits == len(signals), f"{hits} of {len(signals)} disruptions landed while copies wrote (seed {seed})"
    assert case.state() == case.expected, f"seed {seed}\n{logs()}"


def test_a_catchup_standby_names_the_holder_once_waits_and_exits_0_when_the_holder_is_done(sqlite_dbs):
    """A live copy holds the section; a `--catchup` copy says once who holds it (status says so too),
    waits through the holder's renewals, takes over the moment the holder stops cleanly, finds nothing
    left and exits 0."""
    dbs = sqlite_dbs
    src = dbs.engine("source")
    insert(src, create_adtemp(src), wandering_rows(300, seed=5))
    cfg = dbs.write_cfg({"s": {**REGIME, "lease_timeout": "10s", "sleep": "0.5s"}})
    tgt = dbs.engine("target")
    live = spawn(cfg, "s", "--ALLOW_DROP_CREATE_TABLE", log=dbs.tmp_path / "live.log")
    with running(live):
        wait_for(lambda: (h := holder(tgt, "s")) is not None and h.holder.endswith(f":{live.pid}"), 60, "the lease")
        standby = spawn(cfg, "s", "--catchup", log=dbs.tmp_path / "standby.log")
        with running(standby):
            log = dbs.tmp_path / "standby.log"
            wait_for(lambda: "standby: the section is held by" in log.read_text(), 60, "the standby line")
            first = holder(tgt, "s")
            assert first.holder.endswith(f":{live.pid}") and f"held by {first.holder} " in log.read_text()
            wait_for(lambda: holder(tgt, "s").renewed != first.renewed, 30, "a renewal")  # the holder renews...
            second = holder(tgt, "s")
            wait_for(lambda: holder(tgt, "s").renewed != second.renewed, 30, "another renewal")
            assert standby.poll() is None and log.read_text().count("standby:") == 1  # ... one line, no takeover
            rows = status.status(str(cfg))
            assert f"HOLDER {first.holder} (epoch {first.epoch}" in rows[0].note, rows[0].note
            code, _, _ = terminate(live)
            assert code == 0
            out, _ = standby.communicate(timeout=60)
            assert standby.returncode == 0, log.read_text()[-3000:]
    assert "took the section over: its holder released it" in log.read_text()
    assert "propagations written 0," in out, out  # everything was written by the holder
    assert holder(tgt, "s").free  # and released again at the end


def open_transactions(engine: sa.Engine) -> set[int]:
    """The PostgreSQL sessions of `engine`'s database inside an open transaction, waiting for their client."""
    sql = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
           "AND state IN ('idle in transaction', 'idle in transaction (aborted)')")
    with engine.connect() as conn:
        return {row[0] for row in conn.exec_driver_sql(sql)}


def frozen_in_a_transaction(engine: sa.Engine) -> bool:
    """A session stays inside its transaction across two looks: the frozen copy's (a live copy's
    transactions end within milliseconds; a miss only means one more try)."""
    first = open_transactions(engine)
    time.sleep(0.3)
    return bool(first & open_transactions(engine))


@pytest.mark.backends("postgresql", reason="PostgreSQL only: SQLite has no server to end a frozen process's "
                      "transaction, and MariaDB's information_schema.innodb_trx seldom shows a copy's millisecond "
                      "transactions open, so a copy cannot be frozen inside one on purpose (its setting: "
                      "test_lease_idle.py)")
@pytest.mark.parametrize("mode", ["scraper", "averager", "decimator"])  # the bridge writes SQLite only
def test_a_copy_frozen_inside_its_write_transaction_is_taken_over_and_then_writes_nothing(dbs, mode):
    """The holder is frozen again and again at random moments until it is caught inside a write
    transaction (its locks held, the server waiting for it). The server ends that transaction after
    lease_timeout/2, so the standby takes over anyway; resumed, the old holder says once that it lost the
    section (no outage: its ended session is the takeover's doing), writes nothing more, and the copies
    together write what one uninterrupted run writes."""
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    # a transaction per propagation for the scraper (it groups 500 by default): many to be caught in
    slow = {"commit_records": 1} if mode == "scraper" else {}
    case = CASES[mode](dbs, {**LEASE, "lease_timeout": "4s", "hang_after": "1h", **slow})
    logs = {}
    procs = {}
    for k in range(2):
        log = dbs.tmp_path / f"copy{k}.log"
        p = spawn(case.cfg, case.section, "--catchup", "--ALLOW_DROP_CREATE_TABLE", log=log)
        procs[p.pid], logs[p.pid] = p, log
    tails = lambda: "\n".join(f"--- {pid}\n" + log.read_text()[-3000:] for pid, log in logs.items())  # noqa: E731
    caught, tries = None, 0
    with running(*procs.values()):
        while caught is None and tries < 60:
            wait_for(lambda: _holding(case, procs) is not None or all(p.poll() is not None for p in procs.values()),
                     120, f"a copy holding the section (seed {seed})")
            held = _holding(case, procs)
            if held is None:
                break  # both finished before one was caught inside a transaction
            epoch, victim = held
            goal = case.progress() + rng.randint(1, 5)
            wait_for(lambda: case.progress() >= goal or victim.poll() is not None, 120, f"progress (seed {seed})")
            # then the moment a transaction is seen open (likely the holder's: freeze it there)
            wait_for(lambda: open_transactions(case.written) or victim.poll() is not None, 120,
                     f"a transaction (seed {seed})", every=0)
            if victim.poll() is not None:
                continue
            victim.send_signal(signal.SIGSTOP)
            tries += 1
            if frozen_in_a_transaction(case.written):
                caught = victim
                # the server ends the frozen transaction, so its locks do not stop the takeover
                wait_for(lambda: (h := holder(case.written, case.section)) is not None and h.epoch > epoch, 60,
                         f"a standby taking over from the copy frozen in its transaction (seed {seed})\n{tails()}")
            victim.send_signal(signal.SIGCONT)
        for p in procs.values():
            p.wait(180)
            assert p.returncode == 0, f"copy {p.pid} exited {p.returncode} (seed {seed})\n{tails()}"
    assert caught is not None, f"no copy was caught inside a transaction in {tries} tries (seed {seed})"
    said = logs[caught.pid].read_text()
    assert said.count("lost the section") == 1, f"seed {seed}\n{tails()}"
    assert "DB down" not in said, f"seed {seed}\n{tails()}"
    assert case.state() == case.expected, f"seed {seed}\n{tails()}"
