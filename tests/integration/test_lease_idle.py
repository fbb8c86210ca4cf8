"""The server ends a writing section's transaction left idle for half of lease_timeout (db/limits.py
end_idle_transactions), on MariaDB and PostgreSQL: a holder frozen inside a write transaction would
otherwise keep its locks, the lease row's among them, from the standby for as long as it is frozen.
Here the frozen holder is a connection that wrote and then waits; the others are real server sessions."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from processes import wait_for
from scraper.db import limits
from scraper.runtime.retry import OUTAGE, classify

pytestmark = pytest.mark.backends("mariadb", "postgresql", reason="SQLite has no server to end a transaction")


def lockable(engine: sa.Engine) -> bool:
    """Another session can lock the row now (NOWAIT: it does not queue behind the idle transaction)."""
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT x FROM held WHERE k = 1 FOR UPDATE NOWAIT")).all()
        return True
    except sa.exc.DBAPIError:
        return False


def test_a_write_transaction_left_idle_is_ended_by_the_server_and_its_locks_freed(dbs):
    engine = dbs.engine("target")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE held (k INTEGER PRIMARY KEY, x INTEGER)"))
        conn.execute(sa.text("INSERT INTO held VALUES (1, 0)"))
    writer = sa.create_engine(engine.url)
    limits.end_idle_transactions(writer, 1.0)
    other = sa.create_engine(engine.url)
    try:
        conn = writer.connect()
        conn.execute(sa.text("UPDATE held SET x = 1 WHERE k = 1"))  # the row is locked; then it idles
        assert not lockable(other)
        wait_for(lambda: lockable(other), 60, "the server ending the idle transaction")
        with pytest.raises(sa.exc.DBAPIError) as raised:  # resumed: its session is gone, as in an outage
            conn.execute(sa.text("UPDATE held SET x = 2 WHERE k = 1"))
            conn.commit()
        assert classify(raised.value) == OUTAGE
        conn.close()
        with other.connect() as c:
            assert c.execute(sa.text("SELECT x FROM held WHERE k = 1")).scalar() == 0  # nothing of it stayed
    finally:
        writer.dispose()
        other.dispose()

