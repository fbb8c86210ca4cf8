"""A faker writing into the fake source in one OS process while the scraper scrapes it in another, as the
original framework intended (docs/fakers.md). Whatever happens to the scraper meanwhile — running live
alongside, stopped and restarted, SIGKILLed at random moments — its target must end up identical
(ignoring SEQNO/INSERTDATE) to ONE `--catchup` run over the final source into a fresh table.
"""
from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from scraper import commands
from support import for_mode, target_rows

FAKER = {"mode": "faker", "faker_dropsrc": True, "faker_timestart": "2011-02-01 00:00:00",
         "profile": "random_walk", "walk_step": 0.2, "profile_seed": 17,
         "faker_duplicates": 0.02, "faker_gaps": 0.01, "faker_gap": "5m", "sleep": 0.004}
SCRAPER = {"mode": "scraper", "timefloor": "2011-02-01 00:00:00", "sleep": 0.05, "heartbeat": 0.1,
           "batch": 50}
REGIMES = {
    "adtemp": ({"regime": "regimes.adtemp:AdTemp", "interval": "10s", "maxage": "2m", "threshold": 0.5},
               "DcsAdTemp", 600),
    "pmthv": ({"regime": "regimes.pmthv:PmtHv", "interval": "1m", "maxage": "10m", "threshold": 0.5,
               "profile": "step", "step_every": "7m", "step_size": 1.0}, "DcsPmtHv", 150),
    "adlid": ({"regime": "regimes.adlid:AdLid", "interval": "5s", "maxage": "1m", "threshold": 0.3,
               "aggregate": "avg,min,max,std", "aggregate_skips": "id,date_time,Quality",
               "aggregate_filter": "Quality != 0", "aggregate_none": 0, "faker_badquality": 0.05},
              "DcsAdLidSensor", 400),
}
DEADLINE = 60.0  # seconds any single process may take before the test fails (and kills it)


class Processes:
    """Starts `scr.py` sections as real processes; every one is killed at teardown, pass or fail."""

    def __init__(self, cfg_path: Path, logdir: Path):
        self.cfg_path, self.logdir = cfg_path, logdir
        self.started: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, section: str, *args: str) -> subprocess.Popen:
        log = self.logdir / f"{len(self.started):02d}-{section}.log"
        with open(log, "wb") as out:  # a file, not a pipe: an unread pipe would block a chatty process
            proc = subprocess.Popen([sys.executable, "-m", "scraper", "--cfg", str(self.cfg_path), "-s", section,
                                     *args], stdout=out, stderr=subprocess.STDOUT)
        self.started.append((section, proc, log))
        return proc

    def output(self, proc: subprocess.Popen, tail: int = 3000) -> str:
        log = next(path for _, p, path in self.started if p is proc)
        return log.read_text(errors="replace")[-tail:]

    def says(self, proc: subprocess.Popen, text: str) -> bool:
        return text in self.output(proc, tail=0)

    def kill_all(self) -> None:
        for _, proc, _ in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


@pytest.fixture
def procs(dbs, request):
    """A config with the faker, scraper and reference sections of one regime, and a process starter."""
    name = getattr(request, "param", "adtemp")
    keys, kls, entries = REGIMES[name]
    path = dbs.write_cfg({
        "faker": for_mode("faker", {**FAKER, **keys, "maxiter": entries}),
        "scraper": {**SCRAPER, **{k: v for k, v in keys.items() if not k.startswith(("faker_", "profile", "step_"))}},
        "reference": {**SCRAPER, **{k: v for k, v in keys.items() if not k.startswith(("faker_", "profile", "step_"))},
                      "kls": f"Ref{kls}"},
    })
    p = Processes(path, dbs.tmp_path)
    p.kls, p.entries = kls, entries
    # one pooled engine each for the test's polls: a new connection every 50 ms is a server process
    # forked (PostgreSQL) or a login (MariaDB) each time, for as long as the processes run
    p.source, p.target = dbs.engine("source"), dbs.engine("target")
    yield p
    p.kill_all()


def source_has_rows(eng: sa.Engine) -> bool:
    try:
        names = sa.inspect(eng).get_table_names()
        if not names:
            return False
        with eng.connect() as conn:
            q = eng.dialect.identifier_preparer.quote  # PostgreSQL folds unquoted mixed-case names
            return all(conn.execute(sa.text(f"SELECT COUNT(*) FROM {q(n)}")).scalar() > 0 for n in names)
    except sa.exc.DBAPIError:
        return False


def validity_count(eng: sa.Engine, kls: str) -> int:
    try:
        with eng.connect() as conn:
            vld = eng.dialect.identifier_preparer.quote(f"{kls}Vld")
            return conn.execute(sa.text(f"SELECT COUNT(*) FROM {vld}")).scalar()
    except sa.exc.DBAPIError:
        return 0  # not created yet


def wait_until(condition, what: str, timeout: float = DEADLINE) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def start_faker(dbs, procs: Processes, *args: str) -> subprocess.Popen:
    faker = procs.start("faker", *args)
    wait_until(lambda: source_has_rows(procs.source) or faker.poll() is not None, "the faker's first entries")
    assert faker.poll() in (None, 0), procs.output(faker)
    return faker


def in_process(procs: Processes, section: str, **overrides) -> None:
    """A run that is no process's behaviour under test, in this process: it saves a `scr.py` start-up
    (~0.4 s CPU of imports) and runs the same engine."""
    commands.run(commands.settings(str(procs.cfg_path), section, overrides or None), allow_create=True,
                 catchup=section != "faker")


def reference(procs: Processes) -> None:
    """The one catch-up to compare with."""
    in_process(procs, "reference")


def assert_same_as_one_catchup(dbs, procs: Processes) -> list[tuple]:
    # whatever the interrupted or stopped scraper process had not reached yet: its own section and
    # target, resumed from what the process left
    in_process(procs, "scraper")
    reference(procs)
    tgt = dbs.engine("target")
    got, expected = target_rows(tgt, procs.kls), target_rows(tgt, f"Ref{procs.kls}")
    assert len(expected) >= 5
    assert got == expected
    return got


@pytest.mark.parametrize("procs", list(REGIMES), indirect=True)
def test_live_scraper_alongside_a_live_faker_writes_what_one_catchup_writes(dbs, procs):
    # Half the regime's entries, then a quarter more: the size is not what this is about (each faker
    # entry is a commit the faker, the server and the polling scraper pay for), the live overlap is, and
    # the second faker below is started only once the scraper runs live, however slow the machine.
    faker = start_faker(dbs, procs, "--maxiter", str(procs.entries // 2))
    scraper = procs.start("scraper", "--ALLOW_DROP_CREATE_TABLE")
    wait_until(lambda: validity_count(procs.target, procs.kls) > 0 or scraper.poll() is not None, "the live scraper's first records")
    assert faker.wait(timeout=DEADLINE) == 0, procs.output(faker)
    # More entries while the scraper runs live (however slowly a busy machine started it): the faker
    # continues after the newest entry, and the live scraper, never told to stop, picks them up.
    before = validity_count(procs.target, procs.kls)
    more = procs.start("faker", "--faker_dropsrc", "False", "--maxiter", str(procs.entries // 4))
    wait_until(lambda: validity_count(procs.target, procs.kls) > before or scraper.poll() is not None,
               "the live scraper to propagate entries written while it runs")
    assert more.wait(timeout=DEADLINE) == 0, procs.output(more)
    assert scraper.poll() is None, procs.output(scraper)
    scraper.send_signal(signal.SIGTERM)
    assert scraper.wait(timeout=DEADLINE) == 0, procs.output(scraper)
    assert_same_as_one_catchup(dbs, procs)


def test_scraper_stopped_and_restarted_while_the_faker_keeps_writing_loses_nothing(dbs, procs):
    """Each scraper run is interrupted at a random moment (while starting, reading, or writing), by
    SIGTERM and SIGKILL in turn, and restarted: it catches up from the target's last validity record
    (whatever a clean stop or a crash left) while the faker writes on."""
    rng = random.Random(len(dbs.backend))
    faker = start_faker(dbs, procs)
    stops, clean, killed = 0, 0, 0
    # on until the faker is done and both kinds of stop have been seen: a SIGTERM handled (exit 0)
    # and a SIGKILL
    while faker.poll() is None or stops < 3 or not (clean and killed):
        signum = (signal.SIGTERM, signal.SIGKILL)[stops % 2]
        scraper = procs.start("scraper", "--ALLOW_DROP_CREATE_TABLE")
        if rng.random() < 0.25:  # now and then while Python is still starting up
            time.sleep(rng.uniform(0.0, 0.3))
        else:  # mostly once it runs (a loaded machine may take seconds to start it), mid-read or mid-write
            wait_until(lambda: procs.says(scraper, "timecursor(local)") or scraper.poll() is not None,
                       "the scraper to resume")
            time.sleep(rng.uniform(0.05, 1.0))
        scraper.send_signal(signum)
        code = scraper.wait(timeout=DEADLINE)
        stops += 1
        # a SIGTERM that lands while Python is still importing, before scr.py installs its handler,
        # kills like SIGKILL would; once running, SIGTERM finishes the current sample and exits 0
        assert code in (0, -signum), procs.output(scraper)
        clean += signum == signal.SIGTERM and code == 0
        killed += signum == signal.SIGKILL
        assert stops < 40, "the faker should finish within a few scraper restarts"
    assert faker.returncode == 0, procs.output(faker)
    before = validity_count(procs.target, procs.kls)
    assert before > 0, "the interrupted runs should have propagated (and resumed) before the final catch-up"
    got = assert_same_as_one_catchup(dbs, procs)
    print(f"{stops} interrupted runs wrote {before} of {len(got)} validity records")


def test_rows_a_live_faker_commits_late_are_reported_by_the_live_scraper_not_propagated(dbs, procs):
    """faker_late: entries held back and committed behind newer ones while the scraper runs. The scraper
    reports each of them (WARNING lines, summary) and propagates exactly what one catch-up over the
    source without them gives: nothing rewritten, nothing silently lost."""
    in_process(procs, "faker", maxiter=50, profile="random_walk")  # the source exists before the scraper
    scraper = procs.start("scraper", "--ALLOW_DROP_CREATE_TABLE")
    wait_until(lambda: procs.says(scraper, "timecursor(local)"), "the scraper to resume")
    # no duplicates here: a re-insert committed after the cursor passed its time is unreachable as well
    # and would be reported too, making the count exceed the faker's own count of late entries
    faker = procs.start("faker", "--faker_dropsrc", "False", "--faker_late", "0.05", "--faker_late_by", "100",
                        "--faker_duplicates", "0", "--maxiter", "400", "--profile", "random_walk")
    assert faker.wait(timeout=DEADLINE) == 0, procs.output(faker)
    faked = int(re.search(r"realism: .*late (\d+)", procs.output(faker)).group(1))

    def warned() -> int:
        log = procs.output(scraper, tail=0)
        return sum(int(n) for n in re.findall(r"WARNING scraper.reader: DBNS_SAB_Temp: (\d+) entries committed late", log))
    # the scraper has seen every late entry once it warned of as many as the faker held back (however
    # slowly a busy machine runs it): only then is a stop no longer racing the reading
    wait_until(lambda: warned() >= faked or scraper.poll() is not None, "the scraper to report every late entry")
    scraper.send_signal(signal.SIGTERM)
    assert scraper.wait(timeout=DEADLINE) == 0, procs.output(scraper)
    log = procs.output(scraper, tail=0)
    reported = int(re.search(r"late entries not propagated (\d+)", log).group(1))
    assert faked > 10 and reported == warned() == faked

    src = dbs.engine("source")
    table = sa.Table("DBNS_SAB_Temp", sa.MetaData(), autoload_with=src)
    with src.begin() as conn:
        newest, late_ids = None, []
        for id_, dt in conn.execute(sa.select(table.c.id, table.c.date_time).order_by(table.c.id)):
            if newest is not None and dt < newest:
                late_ids.append(id_)
            newest = dt if newest is None else max(newest, dt)
        assert len(late_ids) == faked
        conn.execute(table.delete().where(table.c.id.in_(late_ids)))
    reference(procs)
    tgt = dbs.engine("target")
    assert target_rows(tgt, procs.kls) == target_rows(tgt, f"Ref{procs.kls}")
