"""A live stream section follows the night: at midnight (UTC, by the wall clock) it reads the new
night's topic, drains the old one, and a restart after midnight finishes the night it was reading.

Real `scr.py` processes whose wall clock the test moves (tests/clocked.py), a real broker, three
nights of alerts: the target must equal fixed-night runs of each night, nothing lost or doubled."""
from __future__ import annotations

import contextlib
import uuid
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from processes import running, terminate, wait_for
from scraper import commands
from stream_support import SESSION, broker, contents, count  # noqa: F401 - fixture

CLOCKED = Path(__file__).resolve().parents[1] / "clocked.py"
NIGHTS = ("2020-12-27", "2020-12-28", "2020-12-29")
ALERTS = 200


def _cfg(path: Path, broker, target: str, reference: str) -> Path:
    # the broker serves the whole session: each test (one per backend) has its own topics and groups
    topic = f"nights{uuid.uuid4().hex[:8]}_ztf_%Y%m%d_programid1"
    common = [f"regime = regimes.ztf:Ztf", f"brokers = {broker.address}", f"topic = {topic}"]
    faker = [*common, "mode = stream_faker", f"faker_alerts = {ALERTS}", "faker_partitions = 2"]
    # the faker dates a night's alerts through that night (03:00-12:00 UTC), while the clock here stands
    # just past its midnight: a day of tolerance keeps them data (the bound is test_stream.py's)
    stream = [*common, "mode = stream", "batch = 20", "metrics_every = 1s", "future_tolerance = 1d",
              f"session_timeout = {SESSION}"]
    text = [f"[faker{n}]\n" + "\n".join([*faker, f"night = {night}", f"faker_seed = {n}"]) for n, night in enumerate(NIGHTS)]
    late = [line for line in faker if not line.startswith("faker_alerts")]  # a few late alerts of night 2
    text.append("[late]\n" + "\n".join([*late, f"night = {NIGHTS[1]}", "faker_seed = 9", "faker_alerts = 40"]))
    text.append("[live]\n" + "\n".join([*stream, f"target = {target}", f"consumer_group = live_{topic}"]))
    text.append("[fixed]\n" + "\n".join([*stream, f"target = {reference}", f"consumer_group = fixed_{topic}",
                                         f"night = {NIGHTS[0]}"]))
    path.write_text("\n\n".join(text) + "\n")
    return path


def _set_clock(clock: Path, when: str) -> None:
    tmp = clock.with_suffix(".tmp")
    tmp.write_text(datetime.fromisoformat(when).isoformat())
    tmp.replace(clock)  # the process never reads half a time


def _live(path: Path, clock: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(CLOCKED), str(clock), "--cfg", str(path), "-s", "live",
                             "--ALLOW_DROP_CREATE_TABLE"], stdout=subprocess.PIPE, stderr=open(log, "wb"), text=True)


@contextlib.contextmanager
def _shown(log: Path, dbs):
    """On a failure, the child's log and the target's positions are in the report."""
    try:
        yield
    except AssertionError as exc:
        rows = contents(dbs.target_url).get("stream_positions")
        raise AssertionError(f"{exc}\npositions: {rows}\n--- {log.name}\n{log.read_text()[-6000:]}") from None


def _fake(path: Path, n: int) -> None:
    commands.run(commands.settings(str(path), f"faker{n}"))


def _fixed(path: Path, night: str) -> None:
    """The reference: a night read on its own by a fixed-night section (into the other database)."""
    commands.run(commands.settings(str(path), "fixed", {"night": night}), allow_create=True, catchup=True)


def test_a_live_section_follows_the_nights_topic_across_midnight_and_a_restart(dbs, broker):
    with ThreadPoolExecutor(1) as pool:  # the reference, on a thread while the live process is waited on
        _follow(dbs, broker, pool)


def _follow(dbs, broker, pool: ThreadPoolExecutor) -> None:
    path = _cfg(dbs.tmp_path / "s.cfg", broker, dbs.target_url, dbs.source_url)
    clock = dbs.tmp_path / "clock"
    alerts = "SELECT count(*) FROM ztf_alert"
    positions = "SELECT coalesce(sum(next_offset), 0) FROM stream_positions"
    # night 1: the section reads it live and is SIGKILLed halfway through
    _set_clock(clock, "2020-12-27 23:59:00")
    _fake(path, 0)
    first = _live(path, clock, dbs.tmp_path / "first.log")
    with running(first):
        wait_for(lambda: first.poll() is not None or count(dbs.target_url, alerts) >= ALERTS // 4, 120, "night 1 begun")
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    assert count(dbs.target_url, alerts) < ALERTS, "killed after night 1 was read: nothing left to drain"
    references = [pool.submit(_fixed, path, NIGHTS[0])]  # night 1 is all on the broker
    # midnight passed while it was down; night 2 is on the broker: a restart finishes night 1 first
    _set_clock(clock, "2020-12-28 00:00:30")
    _fake(path, 1)
    log = dbs.tmp_path / "second.log"
    second = _live(path, clock, log)
    with running(second), _shown(log, dbs):
        wait_for(lambda: second.poll() is not None or count(dbs.target_url, alerts) == 2 * ALERTS, 180,
                 "nights 1 and 2 ingested")
        at_end = ("SELECT count(*) FROM stream_lag WHERE topic LIKE '%20201228%' AND behind = 0")
        wait_for(lambda: second.poll() is not None or count(dbs.target_url, at_end) == 2, 120,
                 "night 2's partitions held and read to their end")
        # the next midnight passes while it is frozen at the end of night 2, and late alerts of night 2
        # came meanwhile: an end seen before midnight is no drain, they are read before it leaves night 2
        second.send_signal(signal.SIGSTOP)
        try:
            late = commands.run(commands.settings(str(path), "late"))
            _fake(path, 2)  # night 3 arrives on its own topic
            _set_clock(clock, "2020-12-29 00:00:05")
        finally:
            second.send_signal(signal.SIGCONT)
        references += [pool.submit(_fixed, path, night) for night in NIGHTS[1:]]  # night 2's late alerts too
        total = 3 * ALERTS + late.messages
        wait_for(lambda: second.poll() is not None or count(dbs.target_url, positions) == total, 180,
                 "nights 2 (with its late alerts) and 3 ingested")
        wait_for(lambda: "20201228_programid1 drained" in log.read_text(), 120, "night 2 left once drained")
        code, _took, _out = terminate(second)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "draining " in text and "20201227_programid1 drained" in text, text[-3000:]
    assert "new night: reading " in text and "20201229_programid1" in text, text[-3000:]
    for done in references:
        done.result(300)
    got, expected = contents(dbs.target_url), contents(dbs.source_url)
    assert got == expected
    assert len({p[0] for p in got["stream_positions"]}) == 3  # a position per night's topic and partition
    assert count(dbs.target_url, positions) == total
