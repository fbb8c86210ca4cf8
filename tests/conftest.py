"""Fixtures: real SQLite files always; throwaway MariaDB and PostgreSQL servers (unix socket, temp
datadir) when their binaries are installed — skipped with a visible reason otherwise, a failure under
CI=true."""
from __future__ import annotations

import importlib
import itertools
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tests import support/factories as plain modules

from support import Databases  # noqa: E402

import factories  # noqa: E402

BACKENDS = ["sqlite", "mariadb", "postgresql"]


def pytest_collection_finish(session):
    """What collection built (modules, fixtures' code) lives as long as the session: frozen, out of the
    collector's way. The runner then leaves the collector's policy to this host instead of collecting
    the whole session's heap at the start of every in-process run (about a second each under load)."""
    import gc

    gc.collect()
    gc.freeze()


def pytest_sessionfinish(session):
    """The servers' initialised data directories, shared by the run's workers: gone with the run
    (by the controller, or the only process without xdist)."""
    if not hasattr(session.config, "workerinput"):
        import datadir_template

        datadir_template.remove_all()
_dbnames = itertools.count()


def _throwaway(name: str, module: str, cls: str):
    """A private server of `module` for the session: skipped with its reason when it cannot run here,
    a failure under CI=true (where the test command installs it)."""
    server_module = importlib.import_module(module)
    reason = server_module.unavailable_reason()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required under CI=true: {reason}")
        pytest.skip(f"{name} not available: {reason}")
    return getattr(server_module, cls)()


@pytest.fixture(scope="session")
def mariadb_server():
    with _throwaway("MariaDB", "mariadb_server", "MariaDBServer") as server:
        yield server


@pytest.fixture(scope="session")
def postgresql_server():
    with _throwaway("PostgreSQL", "postgresql_server", "PostgreSQLServer") as server:
        yield server


def _databases(backend: str, tmp_path: Path, request) -> Databases:
    if backend == "sqlite":
        return Databases(backend, tmp_path, f"sqlite:///{tmp_path / 'fake_dcs.db'}",
                         f"sqlite:///{tmp_path / 'tmp_offline_db.db'}")
    server = request.getfixturevalue(f"{backend}_server")
    n = next(_dbnames)
    names = [f"fake_dcs_{n}", f"tmp_offline_db_{n}"]
    for name in names:
        server.create_database(name)
    dbs = Databases(backend, tmp_path, server.url(names[0]), server.url(names[1]))
    request.addfinalizer(lambda: [server.drop_database(name) for name in names])
    return dbs


@pytest.fixture(params=BACKENDS)
def dbs(request, tmp_path):
    """A fresh source + target on each backend; tests using it run once per backend. A module that
    covers only some (`pytestmark = pytest.mark.backends("sqlite", "mariadb", reason=...)`) skips
    the others with its reason, visibly, CI or not."""
    marker = request.node.get_closest_marker("backends")
    if marker is not None and request.param not in marker.args:
        pytest.skip(f"{request.param}: {marker.kwargs.get('reason', 'not supported by this module')}")
    factories.reset()
    d = _databases(request.param, tmp_path, request)
    yield d
    d.close()


@pytest.fixture
def sqlite_dbs(request, tmp_path):
    factories.reset()
    d = _databases("sqlite", tmp_path, request)
    yield d
    d.close()


@pytest.fixture
def own_server(tmp_path):
    """A private MariaDB server this test may stop and start without disturbing the session's one,
    with databases fake_dcs and tmp_offline_db."""
    with _throwaway("MariaDB", "mariadb_server", "MariaDBServer") as server:
        for name in ("fake_dcs", "tmp_offline_db"):
            server.create_database(name)
        dbs = Databases("mariadb", tmp_path, server.url("fake_dcs"), server.url("tmp_offline_db"))
        yield server, dbs
        dbs.close()
