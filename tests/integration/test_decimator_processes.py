"""The decimator as real `python -m scraper` processes beside a live 10 Hz writer: SIGKILL at random
moments of a pass and restart gives the table and rollup of one uninterrupted run, and the writer is
never made to wait long."""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

import decimation as d
from processes import on_a_terminal, running, scalar, spawn, terminate, wait_for
from scraper import cli, commands



ROOT = Path(__file__).resolve().parents[2]
FAKER = {"regime": "regimes.cbpm3:Cbpm3", "mode": "faker", "source_tz": "UTC", "interval": "0.1s",
         "faker_timestart": "2020-11-04 09:03:01"}
DECIMATOR = {"regime": "regimes.cbpm3:Cbpm3", "mode": "decimator", "source_tz": "UTC", "keep": "2m",
             "every": "10s", "batch": 300, "rollup": "cbpm3_rollup", "sleep": "0.2s", "metrics_every": "1s"}


def _sections(url: str) -> dict:
    return {"prefill": {**FAKER, "source": url, "sleep": 0, "maxiter": 9000},   # 15 min DB time
            "live": {**FAKER, "source": url, "sleep": "0.1s", "maxiter": 0},    # then 10 Hz, real time
            "decimator": {**DECIMATOR, "source": url}}


def _run(cfg: Path, section: str, **overrides) -> None:
    commands.run(commands.settings(str(cfg), section, {k: str(v) for k, v in overrides.items()}),
                 allow_create=True, catchup=True)


def _cursor(engine: sa.Engine):
    return scalar(engine, "SELECT thinned_until_utc FROM decimator_cursor")


def _state(engine: sa.Engine) -> tuple[list, list]:
    return d.rows(engine), d.rollup(engine)


def test_sigkill_at_random_moments_of_a_pass_with_a_live_writer_gives_the_uninterrupted_result(dbs):
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    print(f"seed {seed}")
    src = dbs.engine("source")
    cfg = dbs.write_cfg({**_sections(dbs.source_url),
                         **{f"ref_{k}": v for k, v in _sections(dbs.target_url).items()}})
    _run(cfg, "prefill")
    live = spawn(cfg, "live")
    kills = []
    with running(live):
        # a count over the whole table: four looks a second are plenty for waits that place no kill
        wait_for(lambda: scalar(src, "SELECT count(*) FROM cbpm3_data") > 45_005, 60, "the live writer", every=0.25)
        for k in range(3):
            before = _cursor(src) if sa.inspect(src).has_table("decimator_cursor") else None
            dec = spawn(cfg, "decimator", "--ALLOW_DROP_CREATE_TABLE", log=dbs.tmp_path / f"dec{k}.log")
            with running(dec):
                # a pass is under way once the cursor moves; then kill at a random moment of it
                wait_for(lambda: _cursor(src) not in (None, before), 120,  # no table yet: an error, looked again
                         f"decimator run {k} to thin a chunk (seed {seed})")
                time.sleep(rng.uniform(0, 0.3))
                dec.send_signal(signal.SIGKILL)
                dec.wait(30)
            kills.append(str(_cursor(src)))
        written = scalar(src, "SELECT count(*) FROM cbpm3_data")
        # the live writer moves the horizon on: ten more entries of five instruments, however long it takes
        wait_for(lambda: scalar(src, "SELECT count(*) FROM cbpm3_data") >= written + 50, 60, "the live writer",
                 every=0.25)
        status, _, _ = terminate(live)
        assert status == 0
    _run(cfg, "decimator")  # finish the thinning, uninterrupted
    result = _state(src)
    top = scalar(src, "SELECT max(id) FROM cbpm3_data")
    assert top % 5 == 0, "the faker writes five instruments per entry"
    # The reference: the same faker output written at once into a fresh database, thinned in one run.
    ref = dbs.engine("target")
    _run(cfg, "ref_prefill", maxiter=top // 5)
    assert scalar(ref, "SELECT max(id) FROM cbpm3_data") == top
    unthinned = d.rows(ref)  # every row the faker wrote, read before the reference thins them
    _run(cfg, "ref_decimator")
    expected = _state(ref)
    assert len(result[0]) == len(expected[0]) and result == expected, f"seed {seed}, cursor after kills {kills}"
    # ... and both are what the rule says, computed from every row the faker wrote
    ids, roll = d.expected(unthinned, timedelta(minutes=2), timedelta(seconds=10))
    assert [r[0] for r in result[0]] == ids and d.same_rollup(result[1], roll)
    _run(cfg, "decimator")  # a second run changes nothing
    assert _state(src) == result


def test_a_live_10hz_writer_waits_at_most_briefly_during_a_pass(dbs):
    src = dbs.engine("source")
    cfg = dbs.write_cfg({"prefill": {**FAKER, "source": dbs.source_url, "sleep": 0, "maxiter": 18000},
                         "decimator": {**DECIMATOR, "source": dbs.source_url, "batch": 5000}})
    _run(cfg, "prefill")  # 30 min of 5 instruments at 10 Hz: 90 000 rows
    report = dbs.tmp_path / "writer.json"
    writer = subprocess.Popen([sys.executable, str(ROOT / "tests" / "live_writer.py"), dbs.source_url, str(report)])
    with running(writer):
        wait_for(lambda: scalar(src, "SELECT count(*) FROM cbpm3_data") > 90_010, 60, "the live writer")
        dec = spawn(cfg, "decimator", "--catchup", "--ALLOW_DROP_CREATE_TABLE")
        with running(dec):
            out, _ = dec.communicate(timeout=300)
        assert dec.returncode == 0, out
        deleted = int(out.split("entries deleted ")[1].split(",")[0])
        assert deleted > 80_000, out
        writer.send_signal(signal.SIGTERM)
        writer.wait(30)
    got = json.loads(report.read_text())
    print(f"\n[{dbs.backend}] live writer: {got['writes']} commits, worst {got['max_s'] * 1000:.1f} ms, "
          f"p99 {got['p99_s'] * 1000:.1f} ms during a pass deleting {deleted} rows")
    assert got["writes"] > 10
    assert got["max_s"] < 5.0


def test_a_long_first_pass_draws_a_progress_bar_on_a_terminal(sqlite_dbs):
    import re

    src = sqlite_dbs.engine("source")
    d.create_table(src)
    # a pass of more than PROGRESS_SLICES (120) slices shows progress: 200 s of data is enough when
    # progress_every is below any chunk's duration, as the bar is then redrawn once per chunk (a count
    # fixed by the data rather than by the machine's speed)
    data = d.ten_hz(d.EPOCH.replace(year=2020, month=11, day=4), 200, instruments=("10AE",))
    d.insert(src, data)
    cfg = sqlite_dbs.write_cfg({"decimator": {**DECIMATOR, "every": "1s", "keep": "10s", "batch": 10,
                                              "rollup": "", "progress_every": "0.000001s"}})  # 190 slices, one per chunk
    status, screen, out = on_a_terminal(cfg, "decimator", "--catchup", "--loglevel", "WARNING")
    assert status == 0, out
    bars = re.findall(r"\r\x1b\[K\[([#-]{30})\] catch-up +(\d+)% (\d+) entries", screen)
    assert len(bars) >= 2, screen[-2000:]
    deleted = [int(n) for _, _, n in bars]
    assert deleted == sorted(deleted) and deleted[-1] > deleted[0]
    ids, _ = d.expected(data, timedelta(seconds=10), timedelta(seconds=1))
    assert f"entries deleted {len(data) - len(ids)}," in out


def test_supervisord_program_and_status_line_of_a_decimator_section(sqlite_dbs, tmp_path, capsys):
    src = sqlite_dbs.engine("source")
    d.create_table(src)
    d.insert(src, d.ten_hz(d.EPOCH.replace(year=2020, month=11, day=4), 300))
    cfg = sqlite_dbs.write_cfg({"cbpm3_decimator": DECIMATOR})

    def scr(*args: str) -> subprocess.CompletedProcess:
        """`scr.py --cfg cfg args` in-process (cli.main, as the console script calls it): -S and status
        only read and print, so the process start-up of a real scr.py would prove nothing more."""
        capsys.readouterr()
        status = cli.main(["--cfg", str(cfg), *args])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, status, out, err)

    made = scr("-S", str(tmp_path / "sv"), "-s", "cbpm3_decimator")
    assert made.returncode == 0, made.stderr
    ini = (tmp_path / "sv").read_text()
    assert "[program:cbpm3_decimator]" in ini and "-s cbpm3_decimator" in ini and "exitcodes=0,2" in ini
    before = scr("status")
    assert "cbpm3_decimator" in before.stdout and "NEVER RUN" in before.stdout and "not thinned yet" in before.stdout
    assert before.returncode == 0, "a section never run is not a fault"
    # the run itself as supervisord would start it: a real process
    ran = subprocess.run([sys.executable, "-m", "scraper", "--cfg", str(cfg), "-s", "cbpm3_decimator", "--catchup",
                          "--ALLOW_DROP_CREATE_TABLE"], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    after = scr("status")
    (line,) = [l for l in after.stdout.splitlines() if l.startswith("cbpm3_decimator")]
    assert " OK " in line and "cursor 2020-11-04 00:02:50 UTC, horizon 2020-11-04 00:02:50 UTC" in line, line
    assert after.returncode == 0
