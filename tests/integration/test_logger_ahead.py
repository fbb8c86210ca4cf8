"""mode = logger: readings dated beyond now + future_tolerance are not data yet. A poll or a result
file carrying one is refused whole, kept with the reason, counted, logged once per spell, shown by
`status` as WARNING; nothing of it reaches the target, and the polls in time around it do."""
from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from fakers.devices import Mmr3Device
from fakers.result_files import file_name, write_result_file
from logger_support import expected_mmr3, mmr3_rows, mmr3_section, write_cfg
from regimes.ricochet import Processing
from scraper import commands, modes
from scraper.core import wallclock
from scraper.runtime.status import section_status

DAY = 86400


class JumpingMmr3(Mmr3Device):
    """A bridge whose clock is a day ahead while it answers its requests `ahead` (1-based), right
    before and after: the jump is tied to the polls, not to a moment."""

    def __init__(self, ahead: range):
        super().__init__()
        self.ahead = ahead

    def now(self) -> datetime:
        skew = DAY if self.requests in self.ahead else 0
        return datetime.fromtimestamp(time.time() + skew, timezone.utc)


def run(cfg, section, **overrides):
    return commands.run(modes.settings(str(cfg), section, overrides))


def test_polls_of_a_device_clock_a_day_ahead_are_refused_kept_counted_and_logged_once(dbs, tmp_path, caplog):
    rejected = tmp_path / "rejected"
    with JumpingMmr3(ahead=range(3, 7)) as dev:
        cfg = write_cfg(tmp_path / "l.cfg", {"m": {**mmr3_section(dev.url, dbs.target_url, maxiter=9,
                                                                  sleep="0.05s"),
                                                   "rejected": str(rejected), "metrics": "True"}})
        with caplog.at_level(logging.INFO, logger="scraper"):
            summary = run(cfg, "m")
    assert len(dev.replies) == 9
    in_time = dev.replies[:2] + dev.replies[6:]
    assert (summary.refused, summary.future, summary.readings) == (4, 4, 3 * len(in_time))
    assert mmr3_rows(dbs.engine("target")) == expected_mmr3(in_time)  # the 4 jumped polls wrote nothing
    kept = sorted(rejected.glob("*.json"))
    assert len(kept) == 4
    bodies = [json.loads(p.read_text()) for p in kept]
    assert [b["reply"] for b in bodies] == [r.decode() for r in dev.replies[2:6]]
    assert all("in the future" in b["reason"] and "future_tolerance 0:05:00" in b["reason"] for b in bodies)
    began = [r.getMessage() for r in caplog.records if "refused whole" in r.getMessage()]
    assert len(began) == 1, began  # one line for the spell, not one per poll
    stamp = dev.replies[2].split()[1].decode()  # the device's own time, e.g. 2026-12-07T02:41:52.123456Z
    assert stamp[:10] in began[0] and stamp[11:19] in began[0] and "in the future" in began[0]
    ended = [r for r in caplog.records if "in time again after 4 batch(es)" in r.getMessage()]
    assert len(ended) == 1
    assert "(4 dated in the future)" in summary.text()


def test_status_says_warning_while_a_device_is_ahead_and_ok_once_it_is_back(sqlite_dbs, tmp_path):
    rejected = tmp_path / "rejected"
    with Mmr3Device() as dev:
        cfg = write_cfg(tmp_path / "l.cfg", {"m": {**mmr3_section(dev.url, sqlite_dbs.target_url, maxiter=2,
                                                                  sleep="0.05s"),
                                                   "rejected": str(rejected), "metrics": "True"}})
        run(cfg, "m")
        dev.jump(DAY)
        ahead = run(cfg, "m")
        ahead_status = section_status(str(cfg), "m")
        dev.jump(-DAY)
        back = run(cfg, "m")
        back_status = section_status(str(cfg), "m")
    assert (ahead.readings, ahead.future) == (0, 2) and (back.readings, back.future) == (6, 0)
    assert mmr3_rows(sqlite_dbs.engine("target")) == expected_mmr3(dev.replies[:2] + dev.replies[4:])
    assert ahead_status.health == "WARNING", ahead_status
    assert "2 batches refused as dated in the future" in ahead_status.note
    assert back_status.health == "OK", back_status


def test_the_bound_is_the_wall_clock_plus_future_tolerance(sqlite_dbs, tmp_path, monkeypatch):
    """A device an hour ahead is refused with the default 5m, written once the clock (as tests move
    it) or the tolerance covers it."""
    with Mmr3Device() as dev:
        dev.jump(3600)
        cfg = write_cfg(tmp_path / "l.cfg", {"m": {**mmr3_section(dev.url, sqlite_dbs.target_url, maxiter=2,
                                                                  sleep="0.05s"),
                                                   "rejected": str(tmp_path / "rejected")}})
        assert run(cfg, "m").future == 2
        assert run(cfg, "m", future_tolerance="2h").readings == 6
        real = wallclock.now_utc
        monkeypatch.setattr(wallclock, "now_utc", lambda: real() + timedelta(hours=2))
        assert run(cfg, "m").readings == 6
    assert mmr3_rows(sqlite_dbs.engine("target")) == expected_mmr3(dev.replies[2:])


def test_a_result_file_dated_in_the_future_is_refused_whole_and_kept_with_its_reason(sqlite_dbs, tmp_path, caplog):
    folder, rejected = tmp_path / "incoming", tmp_path / "rejected"
    cfg = write_cfg(tmp_path / "l.cfg", {"load": {
        "regime": "regimes.ricochet:Processing", "mode": "logger", "target": sqlite_dbs.target_url,
        "folder": str(folder), "settle": "0s", "sleep": "0.1s", "metrics": "False", "rejected": str(rejected)}})
    for n in (1, 3):
        write_result_file(folder, file_name(n), Processing.fake_file(n))
    tomorrow = Processing.fake_file(2)
    late = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    tomorrow["records"][-1]["timestamp"] = late  # one record of twenty a day ahead
    write_result_file(folder, file_name(2), tomorrow)
    with caplog.at_level(logging.INFO, logger="scraper"):
        summary = commands.run(modes.settings(str(cfg), "load"), catchup=True)
    assert (summary.files, summary.refused, summary.future) == (2, 1, 1)
    engine = sqlite_dbs.engine("target")
    with engine.connect() as conn:
        top = max(conn.execute(sa.text(f"SELECT max(time) FROM {t}")).scalar() for t in ("heat_baseline", "pulse_rate"))
        total = sum(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in ("heat_baseline", "pulse_rate"))
    assert total == 40 and top < time.time()  # nothing of file 2, not even its records in time
    assert json.loads((rejected / file_name(2)).read_text()) == tomorrow
    reason = (rejected / f"{file_name(2)}.reason").read_text()
    assert "in the future" in reason and late[:19].replace("T", " ") in reason
    lines = [r.getMessage() for r in caplog.records if "refused whole" in r.getMessage()]
    assert len(lines) == 1 and "in the future" in lines[0]
