"""mode = logger with emulated devices (real UDP/HTTP servers on 127.0.0.1) on every backend:
a row per reading, batches refused whole, device faults, time_from."""
from __future__ import annotations

import json
import logging
import time

import pytest
import sqlalchemy as sa

from fakers.devices import CryoDevice, Mmr3Device
from logger_support import expected_mmr3, mmr3_rows, mmr3_section, write_cfg
from scraper import commands, modes


def run(cfg_path, section, **overrides):
    return commands.run(modes.settings(str(cfg_path), section, overrides))


def test_every_reply_becomes_one_row_per_channel_on_every_backend(dbs, tmp_path):
    with Mmr3Device() as dev:
        cfg = write_cfg(tmp_path / "l.cfg", {"m": mmr3_section(dev.url, dbs.target_url, maxiter=12, sleep="0.05s")})
        summary = run(cfg, "m")
    assert len(dev.replies) == 12
    assert summary.readings == 36 and summary.faults == 0
    assert mmr3_rows(dbs.engine("target")) == expected_mmr3(dev.replies)


def test_a_second_run_over_the_same_readings_writes_nothing_twice(dbs, tmp_path):
    """The unique key (time, channel): a batch sent again (a spool record re-sent after a lost
    acknowledgement) adds nothing."""
    from scraper.modes.logger.batches import check
    from scraper.modes.logger.store import Store
    from regimes.ricochet import Mmr3, Mmr3Bridge

    with Mmr3Device() as dev:
        cfg = write_cfg(tmp_path / "l.cfg", {"m": mmr3_section(dev.url, dbs.target_url, maxiter=5, sleep="0.05s")})
        run(cfg, "m")
    store = Store(modes.settings(str(cfg), "m"), Mmr3.topics)
    store.connect()
    topics = {t.name: t for t in Mmr3.topics}
    store.write([check("again", Mmr3Bridge().parse(r), topics) for r in dev.replies])
    store.close()
    assert mmr3_rows(dbs.engine("target")) == expected_mmr3(dev.replies)


def test_the_cryostat_page_json_and_html_give_the_same_rows(sqlite_dbs, tmp_path):
    with CryoDevice() as dev:
        common = {"mode": "logger", "device": dev.url, "target": sqlite_dbs.target_url, "sleep": "0.05s",
                  "maxiter": 4, "metrics": "False"}
        cfg = write_cfg(tmp_path / "l.cfg", {"json": {"regime": "regimes.ricochet:Cryo", **common},
                                            "html": {"regime": "regimes.ricochet:CryoHtml", **common}})
        run(cfg, "json")
        run(cfg, "html")
    with sqlite_dbs.engine("target").connect() as conn:
        rows = conn.execute(sa.text('SELECT time, "P1", "P2", "T_mc", "T_still", flow, pt_on FROM cryo ORDER BY time')).all()
    expected = []
    for reply in dev.replies:
        v = json.loads(reply)
        from scraper.modes.logger.batches import unix_time
        expected.append((unix_time(v["timestamp"]), v["pressures"]["P1"], v["pressures"]["P2"],
                         v["temperatures"]["T_mc"], v["temperatures"]["T_still"], v["flow"], int(v["pt_on"])))
    assert [tuple(r) for r in rows] == expected


def test_a_batch_with_one_bad_message_is_refused_whole_kept_and_counted(sqlite_dbs, tmp_path, caplog):
    """Every 3rd reply carries a reading whose T is text: that poll writes nothing (not even its good
    channels), is kept in rejected/ with the reason, counted; the polls around it are written."""
    with Mmr3Device() as dev:
        cfg = write_cfg(tmp_path / "l.cfg", {"m": {**mmr3_section(dev.url, sqlite_dbs.target_url, maxiter=9,
                                                                  sleep="0.05s"),
                                                   "regime": "logger_regimes:TextEveryThird",
                                                   "rejected": str(tmp_path / "rejected")}})
        with caplog.at_level(logging.INFO, logger="scraper"):
            summary = run(cfg, "m")
    good = [r for i, r in enumerate(dev.replies, 1) if i % 3]
    assert summary.refused == 3
    assert mmr3_rows(sqlite_dbs.engine("target")) == expected_mmr3(good)
    kept = sorted((tmp_path / "rejected").glob("*.json"))
    assert len(kept) == 3
    body = json.loads(kept[0].read_text())
    assert "field T" in body["reason"] and "is not a number" in body["reason"]
    assert body["reply"] == dev.replies[2].decode()
    refusals = [r for r in caplog.records if "refused whole" in r.getMessage()]
    assert len(refusals) == 3  # each bad poll follows good ones: three spells of one


def test_device_faults_write_nothing_and_are_one_line_per_spell(sqlite_dbs, tmp_path, caplog):
    with Mmr3Device() as dev:
        plan = ["silent"] * 3 + [None] * 3 + ["garbage"] * 3 + [None] * 3 + ["slow"] * 2
        dev.plan(plan, delay=3.0)
        cfg = write_cfg(tmp_path / "l.cfg", {"m": mmr3_section(dev.url, sqlite_dbs.target_url, maxiter=len(plan),
                                                               sleep="0.05s", timeout="0.3s")})
        with caplog.at_level(logging.INFO, logger="scraper"):
            summary = run(cfg, "m")
    assert summary.faults == 8
    assert len(dev.replies) == 6 and len(dev.late) == 2
    assert mmr3_rows(sqlite_dbs.engine("target")) == expected_mmr3(dev.replies)
    began = [r.getMessage() for r in caplog.records if "no reading is written" in r.getMessage()]
    assert len(began) == 3, began
    assert "no reply within 0.3s" in began[0] and "unreadable reply" in began[1] and "no reply" in began[2]
    ended = [r for r in caplog.records if "answers again" in r.getMessage()]
    assert len(ended) == 2


def test_time_from_receipt_ignores_a_device_clock_jump(sqlite_dbs, tmp_path):
    with Mmr3Device() as dev:
        dev.jump(86400)  # the bridge's clock is a day ahead
        cfg = write_cfg(tmp_path / "l.cfg", {
            "dev": mmr3_section(dev.url, sqlite_dbs.target_url, maxiter=2, sleep="0.05s"),
            "rcv": {**mmr3_section(dev.url, f"sqlite:///{tmp_path / 'rcv.db'}", maxiter=2, sleep="0.05s"),
                    "time_from": "receipt"}})
        before = time.time()
        assert run(cfg, "dev").future == 2
        assert run(cfg, "rcv").future == 0
        after = time.time()
    rcv_times = [r[0] for r in mmr3_rows(sa.create_engine(f"sqlite:///{tmp_path / 'rcv.db'}"))]
    assert mmr3_rows(sqlite_dbs.engine("target")) == []  # time_from = device: a day ahead is not data yet
    assert all(before <= t <= after for t in rcv_times) and len(rcv_times) == 6


@pytest.mark.parametrize("keys, message", [
    ({"device": "http://127.0.0.1:1"}, "device: \"http://127.0.0.1:1\": the regime's device speaks udp"),
    ({"device": ""}, "device: is required for mode logger"),
    ({"time_from": "server"}, 'time_from: "server" is not one of device, receipt'),
    ({"source": "sqlite:///x.db"}, "source: is not used by mode logger"),
])
def test_operator_mistakes_are_one_line_and_exit_2(tmp_path, keys, message):
    import subprocess
    import sys

    cfg = write_cfg(tmp_path / "l.cfg", {"m": {**mmr3_section("udp://127.0.0.1:9", f"sqlite:///{tmp_path}/t.db"), **keys}})
    proc = subprocess.run([sys.executable, "-m", "scraper", "--cfg", str(cfg), "-s", "m"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_a_cryostat_page_answering_garbage_or_hanging_writes_nothing_for_those_polls(sqlite_dbs, tmp_path, caplog):
    with CryoDevice() as dev:
        plan = [None, "garbage", "garbage", None, "silent", None]
        dev.plan(plan, delay=0.1)  # silence: the connection hangs 1 s, past the timeout
        cfg = write_cfg(tmp_path / "l.cfg", {"c": {"regime": "regimes.ricochet:Cryo", "mode": "logger",
                                                   "device": dev.url, "target": sqlite_dbs.target_url,
                                                   "sleep": "0.05s", "timeout": "0.5s", "maxiter": len(plan),
                                                   "metrics": "False"}})
        with caplog.at_level(logging.INFO, logger="scraper"):
            summary = run(cfg, "c")
    assert summary.faults == 3 and summary.readings == 3 == len(dev.replies)
    with sqlite_dbs.engine("target").connect() as conn:
        times = [r[0] for r in conn.execute(sa.text("SELECT time FROM cryo ORDER BY time"))]
    from scraper.modes.logger.batches import unix_time
    assert times == [unix_time(json.loads(r)["timestamp"]) for r in dev.replies]
    began = [r.getMessage() for r in caplog.records if "no reading is written" in r.getMessage()]
    assert len(began) == 2 and "unreadable reply" in began[0] and "no reply within 0.5s" in began[1]
