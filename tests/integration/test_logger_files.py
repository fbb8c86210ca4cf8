"""mode = logger with a Folder: result files loaded once (the ledger), whole or not at all."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import sqlalchemy as sa

from fakers.result_files import file_name, write_result_file
from logger_support import write_cfg
from processes import running, wait_for
from regimes.ricochet import Processing
from scraper import commands, modes


def loader(target: str, folder, **keys) -> dict:
    return {"regime": "regimes.ricochet:Processing", "mode": "logger", "target": target, "folder": str(folder),
            "settle": "0s", "sleep": "0.1s", "metrics": "False", **keys}


def run(cfg, section, **overrides):
    return commands.run(modes.settings(str(cfg), section, overrides), catchup=True)


def fake(folder, numbers) -> list:
    return [write_result_file(folder, file_name(n), Processing.fake_file(n)) for n in numbers]


def expected_rows(numbers) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in numbers:
        for r in Processing.fake_file(n)["records"]:
            out[r["topic"]] = out.get(r["topic"], 0) + 1
    return out


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
                for t in ("heat_baseline", "pulse_rate") if t in names}


def ledger(engine) -> list[tuple]:
    t = sa.Table("logger_files", sa.MetaData(), autoload_with=engine)  # `rows` is a reserved word on MariaDB
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(t.c.path, t.c.size, t.c.sha256, t.c.rows).order_by(t.c.path))]


def test_files_are_loaded_whole_with_their_ledger_row_on_every_backend(dbs, tmp_path):
    folder = tmp_path / "incoming"
    cfg = write_cfg(tmp_path / "l.cfg", {
        "faker": {"regime": "regimes.ricochet:Processing", "mode": "faker", "source": str(folder), "sleep": 0,
                  "maxiter": 3},
        "load": loader(dbs.target_url, folder)})
    commands.run(modes.settings(str(cfg), "faker"))
    paths = sorted(folder.glob("*.json"))
    assert [p.name for p in paths] == sorted(file_name(n) for n in (1, 2, 3))
    import hashlib
    want = sorted((str(p), p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest(), 20) for p in paths)
    summary = run(cfg, "load")
    assert summary.files == 3 and summary.file_rows == 60
    engine = dbs.engine("target")
    assert counts(engine) == expected_rows((1, 2, 3))
    assert ledger(engine) == want
    assert not list(folder.glob("*.json"))  # done = delete, after the commit


def test_a_twin_under_another_name_and_a_file_read_again_add_nothing(sqlite_dbs, tmp_path):
    folder = tmp_path / "incoming"
    cfg = write_cfg(tmp_path / "l.cfg", {"load": loader(sqlite_dbs.target_url, folder, done="move")})
    first = fake(folder, [1, 2])
    twin = folder / "twin0001.json"
    shutil.copy(first[0], twin)
    summary = run(cfg, "load")
    assert (summary.files, summary.twins) == (2, 1)
    engine = sqlite_dbs.engine("target")
    assert counts(engine) == expected_rows((1, 2))
    moved = sorted(p.name for p in (folder / "done").iterdir())
    assert moved == sorted([first[0].name, first[1].name, twin.name])
    shutil.copy(folder / "done" / first[1].name, folder / first[1].name)  # dropped in again
    summary = run(cfg, "load")
    assert (summary.files, summary.twins) == (0, 1)
    assert counts(engine) == expected_rows((1, 2)) and len(ledger(engine)) == 2


def test_a_file_modified_within_settle_waits_and_files_sharing_an_mtime_all_load(sqlite_dbs, tmp_path):
    folder = tmp_path / "incoming"
    cfg = write_cfg(tmp_path / "l.cfg", {"load": loader(sqlite_dbs.target_url, folder, settle="1h")})
    paths = fake(folder, range(1, 6))
    assert run(cfg, "load").files == 0
    assert all(p.exists() for p in paths)
    past = time.time() - 7200
    for p in paths:
        os.utime(p, (past, past))  # the same mtime for all five: no "newer than the last" cursor
    assert run(cfg, "load").files == 5
    assert counts(sqlite_dbs.engine("target")) == expected_rows(range(1, 6))


def test_a_file_with_one_bad_record_is_refused_whole_and_kept_with_its_reason(sqlite_dbs, tmp_path):
    folder, rejected = tmp_path / "incoming", tmp_path / "rejected"
    cfg = write_cfg(tmp_path / "l.cfg", {"load": loader(sqlite_dbs.target_url, folder, rejected=str(rejected))})
    fake(folder, [1, 3])
    bad = Processing.fake_file(2)
    del bad["records"][7]["timestamp"]
    write_result_file(folder, file_name(2), bad)
    (folder / "notjson1.json").write_text("{ not json")
    summary = run(cfg, "load")
    assert (summary.files, summary.refused) == (2, 2)
    assert counts(sqlite_dbs.engine("target")) == expected_rows((1, 3))
    reason = (rejected / f"{file_name(2)}.reason").read_text()
    assert "message 7 has no timestamp" in reason
    assert json.loads((rejected / file_name(2)).read_text()) == bad
    assert (rejected / "notjson1.json.reason").exists()
    assert run(cfg, "load").refused == 0  # kept aside: not read again


def test_a_loader_killed_at_random_moments_loads_each_file_exactly_once(sqlite_dbs, tmp_path):
    """SIGKILL while loading (between a commit and the deletion included), then restart: every file's
    rows once, one ledger row per file, no file left behind."""
    folder = tmp_path / "incoming"
    numbers = range(1, 121)
    fake(folder, numbers)
    cfg = write_cfg(tmp_path / "l.cfg", {"load": loader(sqlite_dbs.target_url, folder)})
    engine = sqlite_dbs.engine("target")
    rnd = random.Random(7)
    kills = 0
    for attempt in range(4):
        proc = subprocess.Popen([sys.executable, "-m", "scraper", "--cfg", str(cfg), "-s", "load", "--catchup"],
                                stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"load{attempt}.log", "wb"))
        with running(proc):
            loaded = len(ledger(engine)) if (tmp_path / "tmp_offline_db.db").exists() else 0
            goal = loaded + rnd.randint(5, 25)
            try:
                wait_for(lambda: proc.poll() is not None or len(ledger(engine)) >= goal, 60, "files loading")
            except AssertionError:
                pass
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
    assert kills >= 1  # the kills happened while files were being loaded (how many files each let
    # through before it landed depends on the machine's speed: not asserted)
    proc = subprocess.run([sys.executable, "-m", "scraper", "--cfg", str(cfg), "-s", "load", "--catchup"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not list(folder.glob("*.json"))
    assert len(ledger(engine)) == len(numbers)
    assert counts(engine) == expected_rows(numbers)


def test_files_deleted_while_the_loader_reads_them_leave_no_partial_file_behind(tmp_path):
    """Another program removes result files at random moments while a real loader works through
    them: the loader never stops, and every file is in the target whole (its 20 rows and its ledger
    row) or not at all. A fast machine may load everything before a deletion lands: the scenario is
    run again (new folder, new target) until one did, so the test proves what its name says."""
    rnd = random.Random()
    seed = rnd.randrange(10**6)
    rnd.seed(seed)
    raced = 0
    for attempt in range(8):
        raced += deletions_during_a_load(tmp_path / f"run{attempt}", rnd, seed)
        if raced:
            break
    assert raced, f"seed {seed}: in 8 loads every deletion came after its file was loaded"


def deletions_during_a_load(tmp_path, rnd: random.Random, seed: int) -> int:
    """One load with deletions; checks its properties and says how many files were never loaded."""
    folder = tmp_path / "incoming"
    paths = fake(folder, list(range(1, 151)))
    target = tmp_path / "target.db"
    sqlite3.connect(target).close()
    # two files a transaction (20 rows each): small transactions keep the load slower than the deletions
    cfg = write_cfg(tmp_path / "l.cfg", {"load": loader(f"sqlite:///{target}", folder, batch="40")})
    doomed = rnd.sample(paths[20:], 50)  # the oldest are loaded first: these go while the loader runs
    proc = subprocess.Popen([sys.executable, "-m", "scraper", "--cfg", str(cfg), "-s", "load", "--catchup"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    engine = sa.create_engine(f"sqlite:///{target}")
    try:
        with running(proc):
            wait_for(lambda: proc.poll() is not None or len(ledger(engine)) > 0, 60, "the first file loaded")
            for path in doomed:
                if proc.poll() is not None:
                    break
                path.unlink(missing_ok=True)
                time.sleep(rnd.random() * 0.01)  # spreads the deletions over the load; not a wait for anything
            out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        with engine.connect() as conn:
            streams = dict(conn.execute(sa.text(
                "SELECT stream_id, count(*) FROM (SELECT stream_id FROM heat_baseline UNION ALL "
                "SELECT stream_id FROM pulse_rate) GROUP BY stream_id")).all())
        ledger_paths = {row[0] for row in ledger(engine)}
    finally:
        engine.dispose()
    assert all(count == 20 for count in streams.values()), f"seed {seed}: a file loaded in part"
    assert len(streams) == len(ledger_paths), f"seed {seed}"
    survivors = {str(p) for p in paths if p not in doomed}
    assert survivors <= ledger_paths, f"seed {seed}: a file nobody deleted was not loaded"
    assert not list(folder.glob("*.json"))
    return len(paths) - len(ledger_paths)


def test_files_sharing_a_transaction_a_bad_one_between_them_and_a_twin_among_them(dbs, tmp_path):
    """Several good files in one transaction (batch of 1 000 rows): a bad file read between them is
    refused whole and kept, the good ones land with exactly their ledger rows, a twin read in the same
    transaction adds nothing, and every loaded file is moved after the commit."""
    folder, rejected = tmp_path / "incoming", tmp_path / "rejected"
    cfg = write_cfg(tmp_path / "l.cfg", {"load": loader(dbs.target_url, folder, rejected=str(rejected), done="move")})
    good = fake(folder, [1, 2, 4, 5])
    bad = Processing.fake_file(3)
    bad["records"][4]["rms"] = "high"
    bad_path = write_result_file(folder, file_name(3), bad)
    twin = folder / "twin0004.json"
    shutil.copy(good[2], twin)
    past = time.time() - 60
    for n, p in enumerate([good[0], good[1], bad_path, good[2], twin, good[3]]):
        os.utime(p, (past + n, past + n))  # read in this order: the bad file and the twin in the middle
    summary = run(cfg, "load")
    assert (summary.files, summary.twins, summary.refused) == (4, 1, 1)
    engine = dbs.engine("target")
    assert counts(engine) == expected_rows((1, 2, 4, 5))
    assert sorted(row[0] for row in ledger(engine)) == sorted(str(p) for p in good)
    assert (rejected / file_name(3)).exists() and "rms" in (rejected / f"{file_name(3)}.reason").read_text()
    assert sorted(p.name for p in (folder / "done").iterdir()) == sorted([p.name for p in good] + [twin.name])
