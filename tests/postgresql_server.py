"""Throwaway PostgreSQL server for integration tests, like mariadb_server.py.

`initdb` and `postgres` in a temp dir, listening on a unix socket only (no TCP port to collide with
other test runs on the machine). PostgreSQL refuses to run as root, so as root the cluster is made and
run as the `postgres` system user (the temp dir is handed to it); as anyone else, as that user.
Authentication is `trust` on the socket: tests connect as the `postgres` role without a password.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess

import psycopg

import datadir_template
from throwaway_server import ThrowawayServer

_RUN_AS = "postgres"
# Sized for a 2-core CI box: correctness, not throughput; fsync off as a killed test server's data
# is thrown away anyway (the scraper's own crash safety is tested on its processes, not the server's).
_SERVER_OPTIONS = ("-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
                   "-c", "full_page_writes=off", "-c", "shared_buffers=32MB", "-c", "max_connections=200",
                   "-c", "log_min_messages=warning") + tuple(os.environ.get("PGX", "").split())
_INITDB_OPTIONS = ("-U", _RUN_AS, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")


def find_bindir() -> str | None:
    """The directory holding initdb and postgres (Debian keeps them off PATH, per major version)."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("postgres"):
        return os.path.dirname(initdb)
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(bindir, "initdb"), os.X_OK) and os.access(os.path.join(bindir, "postgres"), os.X_OK):
            return bindir
    return None


def unavailable_reason() -> str | None:
    """Say why PostgreSQL tests cannot run, so skips are explainable in CI logs."""
    if find_bindir() is None:
        return "PostgreSQL server binaries not found (need initdb and postgres); install the 'postgresql' package"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(_RUN_AS)
        except KeyError:
            return f"running as root needs a '{_RUN_AS}' system user to run the server as (PostgreSQL refuses root)"
    return None


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", _RUN_AS, "--", *argv]


class PostgreSQLServer(ThrowawayServer):
    """A private cluster whose data directory outlives ``stop()`` so tests can simulate outages."""

    program = "postgres"
    not_ready = psycopg.OperationalError

    def __init__(self, startup_timeout: float = 60.0) -> None:
        bindir = find_bindir()
        if bindir is None:
            raise RuntimeError(unavailable_reason())
        self._initdb, self._postgres = os.path.join(bindir, "initdb"), os.path.join(bindir, "postgres")
        super().__init__("scraper-pg-", startup_timeout)
        os.chmod(self.basedir, 0o755)
        if os.geteuid() == 0:
            user = pwd.getpwnam(_RUN_AS)
            os.chown(self.basedir, user.pw_uid, user.pw_gid)
        self.datadir = os.path.join(self.basedir, "data")
        self.socket_dir = self.basedir
        self.log = os.path.join(self.basedir, "server.log")

    def _initialize(self) -> None:
        datadir_template.copy_into(self.datadir, (self._initdb, *_INITDB_OPTIONS), self._install,
                                   owner=_RUN_AS if os.geteuid() == 0 else None)
        self._initialized = True

    def _install(self, datadir: str) -> None:
        result = subprocess.run(_as_server_user([self._initdb, "-D", datadir, *_INITDB_OPTIONS]),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=self.startup_timeout)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed ({result.returncode}):\n{result.stdout.decode(errors='replace')[:3000]}")

    def start(self) -> None:
        """Start (or restart after ``stop()``) and block until a client can log in."""
        if self._proc is not None and self._proc.poll() is None:
            return
        if not self._initialized:
            self._initialize()
        logfile = open(self.log, "ab")
        try:
            self._proc = subprocess.Popen(
                _as_server_user([self._postgres, "-D", self.datadir, "-k", self.socket_dir, *_SERVER_OPTIONS]),
                stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                start_new_session=True)  # keep terminal Ctrl-C away from it
        finally:
            logfile.close()
        self._await_start()

    def _log(self) -> str:
        return self.log

    def _signal_all(self, signum: int) -> None:
        # every child of the postmaster (a backend per connection, the checkpointer, ...) makes itself a
        # session leader (setsid): each is signalled by pid, after the postmaster (named by the first
        # line of postmaster.pid) so that no new one is forked meanwhile
        super()._signal_all(signum)
        with open(os.path.join(self.datadir, "postmaster.pid")) as f:
            postmaster = int(f.readline())
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(stat) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            if int(fields[1]) == postmaster:  # the parent pid
                try:
                    os.kill(int(stat.split("/")[2]), signum)
                except ProcessLookupError:
                    pass

    def _listening(self) -> str:
        return f"in {self.socket_dir}"

    def _shut_down(self, proc: subprocess.Popen[bytes]) -> None:
        # runuser passes signals on to the server it runs; SIGINT is PostgreSQL's "fast shutdown"
        os.killpg(proc.pid, signal.SIGINT)

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, signal.SIGKILL)

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        """Raw superuser connection in autocommit mode, for setup that must not go through the code under test."""
        return psycopg.connect(host=self.socket_dir, user=_RUN_AS, dbname=database, autocommit=True,
                               connect_timeout=5)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{_RUN_AS}@/{database}?host={self.socket_dir}"

    def create_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
