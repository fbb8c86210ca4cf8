"""Real `scr.py` stream processes: SIGKILL at random moments, and a consumer group sharing a topic."""
from __future__ import annotations

import random
import signal
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from processes import running, spawn, terminate, wait_for
from scraper import commands
from scraper.modes.stream.broker import Broker
from scraper.modes.stream.lag import LagBoard, totals
from stream_support import broker, contents, create_topic, count, run, write_cfg  # noqa: F401 - fixture


def _reference(dbs, path) -> dict:
    """The same section uninterrupted, into the backend's other database (the stream reads no source)."""
    ref = path.with_name("ref.cfg")
    ref.write_text(path.read_text().replace(dbs.target_url, dbs.source_url)
                   .replace("consumer_group = g_", "consumer_group = reference_g_")
                   .replace(f"store = {dbs.tmp_path / 'store'}", f"store = {dbs.tmp_path / 'ref_store'}"))
    run(ref, "stream", catchup=True)
    return contents(dbs.source_url)


def _beside(pool: ThreadPoolExecutor, dbs, path) -> Future:
    """The reference run on a thread while the test waits on its processes: most of either is waiting
    (the broker holds every group join about 3 s, and a dead member's partitions for its session), so
    side by side they take the time of the longer. Its own group, database and store: nothing shared."""
    return pool.submit(_reference, dbs, path)


@pytest.mark.parametrize("seed", [1])
def test_sigkill_at_random_moments_then_catchup_equals_an_uninterrupted_run(dbs, broker, seed):
    rng = random.Random(seed)
    print(f"seed {seed}")
    # 600 alerts (and the replay of most of them: ~1000 messages, 25 batches) leave room for kills at
    # random points in the catch-up; more data would only make each run longer
    alerts = 600
    path = write_cfg(dbs.tmp_path / "s.cfg", broker, dbs.target_url, alerts=alerts,
                     stream={"batch": 40, "store": str(dbs.tmp_path / "store")})
    made = run(path, "faker")
    with ThreadPoolExecutor(1) as pool:
        reference = _beside(pool, dbs, path)
        for n, at in enumerate(sorted(rng.sample(range(1, alerts), 2))):
            proc = spawn(path, "stream", "--catchup", "--ALLOW_DROP_CREATE_TABLE", log=dbs.tmp_path / f"kill{n}.log")
            with running(proc):
                wait_for(lambda: proc.poll() is not None or count(dbs.target_url, "SELECT count(*) FROM ztf_alert") >= at,
                         180, f"{at} alerts ingested")
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
        final = spawn(path, "stream", "--catchup", log=dbs.tmp_path / "final.log")
        with running(final):
            code = final.wait(300)
        expected = reference.result(300)
    assert code == 0, (dbs.tmp_path / "final.log").read_text()[-2000:]
    assert contents(dbs.target_url) == expected
    assert sum(p[2] for p in expected["stream_positions"]) == made.messages
    files = sorted(p.name for p in (dbs.tmp_path / "store").iterdir())
    assert len(files) == alerts and all(f.endswith(".avro") for f in files)  # one file a key, no leftovers


@pytest.mark.parametrize("members", [2, 3])
def test_a_consumer_group_shares_the_partitions_and_survives_a_killed_member(dbs, members):
    with Broker() as own:  # a broker of its own: see _group_test
        _group_test(dbs, own, members)


def _group_test(dbs, broker, members: int) -> None:
    """Measured on Tansu under load: members of a new group started at the same instant sometimes never
    got their partitions (and a group that lost a SIGKILLed member could hold up a later group), so each
    test has a broker of its own and its members join one after the other."""
    alerts = 900
    path = write_cfg(dbs.tmp_path / "s.cfg", broker, dbs.target_url, alerts=alerts,
                     stream={"batch": 20, "start": "earliest"})
    create_topic(path)
    logs = [dbs.tmp_path / f"member{i}.log" for i in range(members)]
    procs: list = []
    pool = ThreadPoolExecutor(1)
    try:
        for i in range(members):  # one after the other, as an operator scales out (see the docstring)
            procs.append(spawn(path, "stream", "--ALLOW_DROP_CREATE_TABLE", log=logs[i]))
            wait_for(lambda: "assigned" in logs[i].read_text(), 120, f"member {i} with partitions")
        # each member reports the lag of its own partition (3 partitions, one each at most): side by side
        wait_for(lambda: len(_lag(dbs.target_url)[1]) == members, 120, "every member's partitions reported")
        made = run(path, "faker")
        reference = _beside(pool, dbs, path)
        wait_for(lambda: count(dbs.target_url, "SELECT count(*) FROM ztf_alert") >= alerts // 4, 120, "ingest started")
        procs[1].send_signal(signal.SIGKILL)
        procs[1].wait(30)
        wait_for(lambda: count(dbs.target_url, "SELECT coalesce(sum(next_offset), 0) FROM stream_positions")
                 == made.messages, 180, "every message consumed by the members left")
        # the killed member's partitions are reported by their new owners: the group's lag, all caught up
        alive = {p.pid for p in procs if p.poll() is None}
        wait_for(lambda: _lag(dbs.target_url) == (0, alive), 120, "the survivors' lag of every partition")
        note = {r.section: r for r in commands.status(str(path))}["stream"].note
        assert note.startswith("behind 0 messages (p0 0, p1 0, p2 0), 0 s, "
                               f"{len(alive)} process{'es' if len(alive) > 1 else ''}; "), note
        for p in (procs[0], *procs[2:]):
            code, _took, _out = terminate(p)
            assert code == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(30)
        pool.shutdown()
    assert count(dbs.target_url, "SELECT count(DISTINCT candid) FROM ztf_alert") == alerts
    got = contents(dbs.target_url)
    assert got == reference.result(300)


def _lag(url: str) -> tuple[int, set[int]]:
    """The group's messages behind (every partition of the topic reported) and the pids reporting."""
    engine = sa.create_engine(url)
    try:
        rows = LagBoard(engine, "stream", timedelta(seconds=1)).current()
    finally:
        engine.dispose()
    return (totals(rows)[0] if len(rows) == 3 else -1), {int(r.member.rsplit(":", 1)[1]) for r in rows}


def test_a_stream_started_before_its_broker_waits_for_it_and_says_so_once(sqlite_dbs):
    from scraper.modes.stream.broker import free_port

    port = free_port()

    class Later:
        address = f"127.0.0.1:{port}"
    path = write_cfg(sqlite_dbs.tmp_path / "s.cfg", Later, sqlite_dbs.target_url, alerts=50, replay_at="")
    log = sqlite_dbs.tmp_path / "early.log"
    proc = spawn(path, "stream", "--ALLOW_DROP_CREATE_TABLE", log=log)  # live: the night's topic comes later
    with running(proc):
        wait_for(lambda: "unreachable" in log.read_text(), 60, "the outage logged")
        with Broker(port=port):
            run(path, "faker")
            wait_for(lambda: count(sqlite_dbs.target_url, "SELECT count(*) FROM ztf_alert") == 50, 120,
                     "the night ingested")
            code, _took, _out = terminate(proc)
            assert code == 0
    text = log.read_text()
    assert text.count("unreachable") == 1 and text.count("reachable again") == 1, text[-3000:]
