"""The group's lag: each process of a stream section reports the partitions it holds, and the rows
together (never one process's share) are what `status` and the `scraper_metrics` gauges show."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from scraper.modes.stream.lag import LAG, LagBoard, totals


def test_members_report_their_own_partitions_and_the_board_sums_the_group(dbs):
    engine = sa.create_engine(dbs.target_url)
    try:
        a = LagBoard(engine, "ztf_stream", timedelta(minutes=1), member="vm1:100")
        b = LagBoard(engine, "ztf_stream", timedelta(minutes=1), member="vm2:200")
        other = LagBoard(engine, "other_stream", timedelta(minutes=1), member="vm3:300")
        a.ensure()
        a.ensure()  # again: an existing table is kept
        a.publish({("t", 0): (5, 2.5), ("t", 1): (7, 4.0)})
        b.publish({("t", 2): (11, 9.0)})
        other.publish({("t", 0): (1000, 99.0)})
        assert totals(a.current()) == (23, 9.0)
        assert {(r.partition, r.member) for r in b.current()} == {(0, "vm1:100"), (1, "vm1:100"), (2, "vm2:200")}
        # a rebalance gives partition 1 to b: its row changes owner, nothing is counted twice
        b.publish({("t", 1): (3, 1.0), ("t", 2): (10, 8.0)})
        assert totals(a.current()) == (18, 8.0)
        assert {(r.partition, r.member) for r in a.current()} == {(0, "vm1:100"), (1, "vm2:200"), (2, "vm2:200")}
        # a row nobody reported for three periods (an earlier night's topic, drained and left) is old news
        with engine.begin() as conn:
            conn.execute(sa.insert(sa.Table(LAG, sa.MetaData(), autoload_with=conn)).values(  # `partition`: reserved in MariaDB
                section="ztf_stream", topic="yesterday", partition=0, member="vm1:100", behind=40, behind_s=60,
                updated=datetime.utcnow() - timedelta(minutes=4)))
        assert totals(a.current()) == (18, 8.0)
        assert "yesterday" not in {r.topic for r in a.current()}
    finally:
        engine.dispose()


def _alert(candid: int) -> dict:
    return {"candid": candid, "objectId": f"ZTF20a{candid:06d}", "schemavsn": "3.3", "jd": 2459211.5 + candid / 1e5,
            "fid": 1, "programid": 1, "ra": 10.0, "dec": 20.0, "magpsf": 18.5, "sigmapsf": 0.1, "isdiffpos": "t",
            "rb": 0.9, "drb": 0.9, "ndethist": 1, "n_prv": 0}


def test_two_members_writing_the_same_keys_at_once_store_each_once(dbs):
    """Two processes of a group writing the same alerts in opposite orders at the same instant (a
    partition re-read by its new owner while the old one still writes, a producer's replay on another
    partition): each key lands once, the rest count as replayed, and no clash stops a writer (a
    unique-key violation or a deadlock between them is redone, never taken for an outage)."""
    import threading

    from regimes.ztf import Ztf
    from scraper.modes.stream.ledger import Item, Ledger

    engines = [sa.create_engine(dbs.target_url) for _ in range(2)]
    ledgers = [Ledger(e, "ztf_stream", Ztf) for e in engines]
    ledgers[0].create()
    keys = list(range(1, 401))
    barrier, outcomes, errors = threading.Barrier(2), [], []

    def member(n: int) -> None:
        try:
            for i in range(0, len(keys), 50):
                chunk = keys[i:i + 50] if n == 0 else keys[i:i + 50][::-1]
                batch = [Item(f"t{n}", 0, i + j, b"x", key=(c,), rows={"ztf_alert": [_alert(c)], "ztf_prv_candidate": []})
                         for j, c in enumerate(chunk)]
                barrier.wait(60)
                outcomes.append(ledgers[n].write(batch))
        except Exception as exc:  # noqa: BLE001 - reported below, with the backend
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=member, args=(n,)) for n in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not errors, errors[0]
        assert sum(o.written for o in outcomes) == len(keys)
        assert sum(o.replayed for o in outcomes) == len(keys)
        with engines[0].connect() as conn:
            assert conn.execute(sa.text("SELECT count(*), count(DISTINCT candid) FROM ztf_alert")).one() == (400, 400)
    finally:
        for e in engines:
            e.dispose()
