"""Outage or mistake, decided once (scraper/runtime/retry.py classify), on errors real drivers raise:
raw (as PreparedQuery's own connection sees them) and wrapped by SQLAlchemy (as the pool sees them)."""
from __future__ import annotations

import sqlite3

import pymysql
import pytest
import sqlalchemy as sa

from scraper.runtime.retry import MISTAKE, OTHER, OUTAGE, classify


def raised(fn) -> BaseException:
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - the error under test
        return exc
    raise AssertionError("no error raised")


def test_sqlite_errors(tmp_path):
    path = tmp_path / "t.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    waiter = sqlite3.connect(path, timeout=0, isolation_level=None)
    assert classify(raised(lambda: waiter.execute("BEGIN IMMEDIATE"))) == OUTAGE  # database is locked
    holder.execute("ROLLBACK")

    full = sqlite3.connect(path, isolation_level=None)
    full.execute("PRAGMA max_page_count = 2")
    assert classify(raised(lambda: full.execute("INSERT INTO t SELECT randomblob(100000)"))) == OUTAGE

    ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert classify(raised(lambda: ro.execute("INSERT INTO t VALUES (1)"))) == MISTAKE  # readonly database

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    assert classify(raised(lambda: sqlite3.connect(junk).execute("SELECT * FROM sqlite_master"))) == MISTAKE

    # a column the section reads is gone (dropped or renamed by hand): one line, exit 2, not a traceback
    assert classify(raised(lambda: holder.execute("SELECT nosuchcolumn FROM t"))) == MISTAKE
    assert classify(raised(lambda: holder.execute("SELECT 1 +"))) == OTHER  # a bug: raised


def test_sqlalchemy_wraps_the_same_judgement(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    engine = sa.create_engine(f"sqlite:///{junk}")
    with pytest.raises(sa.exc.DBAPIError) as info:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT * FROM sqlite_master")
    assert classify(info.value) == MISTAKE
    engine.dispose()


def test_mysql_connection_errors(tmp_path):
    missing_socket = raised(lambda: pymysql.connect(unix_socket=str(tmp_path / "mysqld.sock"), user="x"))
    assert classify(missing_socket) == OUTAGE  # the server is not up (yet)
    refused = raised(lambda: pymysql.connect(host="127.0.0.1", port=1, user="x", connect_timeout=2))
    assert classify(refused) == OUTAGE
    unknown_host = raised(lambda: pymysql.connect(host="no-such-host.invalid", user="x", connect_timeout=5))
    assert classify(unknown_host) == MISTAKE  # a typo does not heal by waiting
    assert classify(ValueError("not a database error")) == OTHER


def test_postgresql_login_mistakes_are_not_outages(postgresql_server):
    """PostgreSQL refuses these logins with a FATAL message and no SQLSTATE: a database or role that
    does not exist never appears by waiting (MySQL's 1049 is the same judgement)."""
    import psycopg

    def login(**kw):
        return raised(lambda: psycopg.connect(host=postgresql_server.socket_dir, connect_timeout=5, **kw))

    assert classify(login(user="postgres", dbname="no_such_database")) == MISTAKE
    assert classify(login(user="no_such_role", dbname="postgres")) == MISTAKE
    engine = sa.create_engine(postgresql_server.url("no_such_database"))
    assert classify(raised(engine.connect)) == MISTAKE  # wrapped by SQLAlchemy: the same
    engine.dispose()
    stopped = raised(lambda: psycopg.connect(host=str(postgresql_server.basedir) + "/none", user="postgres",
                                             dbname="postgres", connect_timeout=5))
    assert classify(stopped) == OUTAGE  # no server behind the socket (yet): waited out
