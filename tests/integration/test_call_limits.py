"""The time limits each driver is given (scraper/db/limits.py) and the liveness watch's judgement
(scraper/runtime/hang.py), on real servers: `statement_timeout` ends a statement that runs longer (an
outage, retried), and a statement that is merely long, on a server that answers, runs to its end
without any outage being logged."""
from __future__ import annotations

import logging
import threading

import pytest
import sqlalchemy as sa

from scraper import db
from scraper.runtime.retry import OUTAGE, Retrier, classify

pytestmark = pytest.mark.backends("mariadb", "postgresql", reason="SQLite has no server to wait on")
SLEEP = {"mysql": "SELECT SLEEP({s})", "mariadb": "SELECT SLEEP({s})", "postgresql": "SELECT pg_sleep({s})"}


def sleeping(engine: sa.Engine, seconds: float) -> str:
    return SLEEP[engine.dialect.name].format(s=seconds)


def test_a_statement_longer_than_statement_timeout_is_ended_as_an_outage(dbs):
    cfg = dbs.settings(regime="regimes.adtemp:AdTemp", statement_timeout="1s")
    engine = db.connect(cfg, "source")
    try:
        with pytest.raises(sa.exc.DBAPIError) as info:
            with engine.connect() as conn:
                conn.execute(sa.text(sleeping(engine, 5)))
        assert classify(info.value) == OUTAGE  # waited out and retried, never a reason to stop
        with engine.connect() as conn:  # the engine goes on: the next statement runs
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_a_long_statement_on_a_server_that_answers_is_no_outage(dbs, caplog):
    cfg = dbs.settings(regime="regimes.adtemp:AdTemp", hang_after="1.5s", statement_timeout="1m")
    engine = db.connect(cfg, "source")
    retrier = Retrier(cfg, threading.Event())
    try:
        def long_query():
            with engine.connect() as conn:
                return conn.execute(sa.text(sleeping(engine, 3) + ", 7" if engine.dialect.name != "postgresql"
                                             else "SELECT 7 FROM pg_sleep(3)")).all()[-1][-1]

        with caplog.at_level(logging.DEBUG, logger="scraper.outage"):
            assert retrier.call("source", long_query) == 7
        assert retrier.errors == 0 and not retrier.down
        assert not [r for r in caplog.records if "DB down" in r.getMessage()]
        assert any("only slow" in r.getMessage() for r in caplog.records), "the watch did ask the server"
    finally:
        engine.dispose()
