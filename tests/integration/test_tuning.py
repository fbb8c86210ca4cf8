"""Sleep tuning against a live faker: far behind -> no sleeping; caught up -> lag under two heartbeats
with a bounded number of source queries per heartbeat."""
from __future__ import annotations

import re
import time
from factories import AdTempRowFactory, create_adtemp, insert
from processes import newest, running, scalar, spawn, terminate, wait_for

HEARTBEAT = 0.25  # seconds, real time and DB time alike (the faker writes one entry per heartbeat)
LIVE = {"regime": "regimes.adtemp:AdTemp", "interval": f"{HEARTBEAT}s", "heartbeat": f"{HEARTBEAT}s",
        "maxage": "10m", "threshold": 0.5, "source_tz": "UTC", "metrics_every": "1s"}
FAKER = {"regime": "regimes.adtemp:AdTemp", "mode": "faker", "faker_timestart": "2011-02-01 00:00:00",
         "interval": f"{HEARTBEAT}s", "sleep": f"{HEARTBEAT}s", "profile": "modulo_ramp", "maxiter": 0}


def lag_seconds(src, tgt) -> float | None:
    """Source latest - newest TIMEEND. modulo_ramp changes every entry by more than the threshold, so
    every sampled entry is propagated and TIMEEND is exactly the scraper's reading position."""
    latest, end = newest(src, "DBNS_SAB_Temp", "date_time"), newest(tgt, "DcsAdTempVld", "TIMEEND")
    if latest is None or end is None:
        return None
    return (latest - end).total_seconds()


def test_live_scraper_keeps_lag_under_two_heartbeats_with_few_queries(dbs):
    cfg = dbs.write_cfg({"faker": FAKER, "scraper": LIVE})
    src, tgt = dbs.engine("source"), dbs.engine("target")
    faker = spawn(cfg, "faker")
    with running(faker):
        table = src.dialect.identifier_preparer.quote("DBNS_SAB_Temp")  # PostgreSQL folds it unquoted
        wait_for(lambda: scalar(src, f"SELECT count(*) FROM {table}") > 4, 20, "the faker's first entries")
        scraper = spawn(cfg, "scraper", "--ALLOW_DROP_CREATE_TABLE")
        with running(scraper):
            wait_for(lambda: lag_seconds(src, tgt) is not None, 20, "the first propagation")
            time.sleep(1.0)  # settle: the first tune happens at the first propagations
            lags, t0 = [], time.monotonic()
            while time.monotonic() - t0 < 5.0:
                lags.append(lag_seconds(src, tgt))
                time.sleep(0.05)
            status, took, out = terminate(scraper)
            elapsed = time.monotonic() - t0
        faker.terminate()
    assert status == 0 and took < 10  # a stop does not wait out a sleep (seconds on a loaded machine)
    lags.sort()
    # two heartbeats of DB time; a few stragglers are allowed for a 2-core box shared with other jobs
    assert lags[int(len(lags) * 0.9)] < 2 * HEARTBEAT, lags
    assert lags[-1] < 6 * HEARTBEAT, lags
    queries = int(re.search(r"source queries (\d+)", out).group(1))
    beats = (elapsed + 2.5) / HEARTBEAT  # the scraper ran ~1.5-2.5 s before the measurement began
    assert queries / beats < 5, f"{queries} queries in ~{beats:.0f} heartbeats"


def test_far_behind_catches_up_without_sleeping_then_sleeps_a_heartbeat(sqlite_dbs):
    src = sqlite_dbs.engine("source")
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(6000))  # 10 s cadence: 16 h 40 min
    keys = {**LIVE, "interval": "10s", "heartbeat": "10s", "sleep": "10s", "batch": 500}
    cfg = sqlite_dbs.write_cfg({"scraper": keys})
    log = cfg.parent / "scraper.log"
    scraper = spawn(cfg, "scraper", "--ALLOW_DROP_CREATE_TABLE", log=log)
    with running(scraper):
        # with a 10 s sleep, 6000 entries would take hours if the loop slept between samples
        wait_for(lambda: "tune: caught up" in log.read_text(), 60, "catch-up to finish")
        status, _, _ = terminate(scraper)
    text = log.read_text()
    assert status == 0
    far = re.search(r"tune detects maxlag (\S+) behind namely (\d+) intervals of 0:00:10 \.\.\. catching up, sleep 0:00:00",
                    text)
    assert far, text[-3000:]
    assert far.group(1) == "16:39:50" and int(far.group(2)) == 5999  # 6000 entries, 10 s apart, all ahead
    assert "caught up with the source, sleep 0:00:07.5\n" in text  # 0.75 of the effective heartbeat
