import os
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

# Until tests/conftest.py exists, make tests/ importable (no __init__.py on purpose).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mariadb_server import MariaDBServer, unavailable_reason  # noqa: E402


def test_throwaway_mariadb_keeps_data_across_restart() -> None:
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)

    with MariaDBServer() as server:
        server.create_database("scratch")
        metadata = sa.MetaData()
        runs = sa.Table("runs", metadata, sa.Column("id", sa.Integer, primary_key=True),
                        sa.Column("name", sa.String(32)))
        engine = sa.create_engine(server.url("scratch"))
        try:
            metadata.create_all(engine)
            with engine.begin() as conn:
                conn.execute(runs.insert().values(id=1, name="µ-run"))

            server.stop()
            server.start()
            engine.dispose()  # pooled connections died with the old server

            with engine.connect() as conn:
                assert conn.execute(sa.select(runs.c.name)).scalar_one() == "µ-run"
        finally:
            engine.dispose()
