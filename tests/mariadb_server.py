"""Throwaway MariaDB server for integration tests.

The scraper's behaviour against a real server (strict SQL modes, grants,
reconnects after an outage) cannot be faked convincingly with SQLite, so
tests start a private ``mariadbd`` on a unix socket in a temp dir instead of
depending on a shared, stateful database.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

import pymysql

import datadir_template
from throwaway_server import ThrowawayServer

_SEARCH_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")

# Sized for a 2-core CI box: the suite needs correctness, not throughput.
_SERVER_OPTIONS = (
    "--skip-networking",
    "--skip-name-resolve",
    "--innodb-buffer-pool-size=64M",
    "--innodb-log-file-size=48M",
    # Commits survive a killed server (the OS has the log) without an fsync each.
    "--innodb-flush-log-at-trx-commit=2",
    "--innodb-doublewrite=0",
    "--performance-schema=OFF",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_unicode_ci",
)


def _which(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
        for directory in _SEARCH_DIRS:
            candidate = os.path.join(directory, name)
            if os.access(candidate, os.X_OK):
                return candidate
    return None


def find_server() -> tuple[str, str] | None:
    """Return ``(mariadbd, mariadb-install-db)``; sbin is often off a non-root PATH."""
    server = _which("mariadbd", "mysqld")
    install_db = _which("mariadb-install-db", "mysql_install_db")
    if server is None or install_db is None:
        return None
    return server, install_db


def unavailable_reason() -> str | None:
    """Say why integration tests cannot run, so skips are explainable in CI logs."""
    if find_server() is not None:
        return None
    return (
        "MariaDB server binaries not found (need mariadbd/mysqld and "
        "mariadb-install-db/mysql_install_db on PATH or in /usr/sbin, /usr/bin); "
        "install e.g. the 'mariadb-server' package"
    )


def _user_option() -> list[str]:
    # mariadbd refuses to run as root unless told to; as anyone else it is moot.
    return ["--user=root"] if os.geteuid() == 0 else []


class MariaDBServer(ThrowawayServer):
    """A private server whose datadir outlives ``stop()`` so tests can simulate outages.

    ``stop()``/``start()`` keep the datadir and socket path; ``close()`` (and
    leaving the ``with`` block) also deletes them.
    """

    program = "mariadbd"
    not_ready = pymysql.err.OperationalError

    def __init__(self, startup_timeout: float = 60.0) -> None:
        binaries = find_server()
        if binaries is None:
            raise RuntimeError(unavailable_reason())
        self._mariadbd, self._install_db = binaries
        super().__init__("scraper-mariadb-", startup_timeout)
        self.datadir = os.path.join(self.basedir, "data")
        self.socket = os.path.join(self.basedir, "mysqld.sock")
        self.error_log = os.path.join(self.basedir, "error.log")
        self._pid_file = os.path.join(self.basedir, "mysqld.pid")

    def _initialize(self) -> None:
        datadir_template.copy_into(self.datadir, (self._install_db, *_user_option(), *_SERVER_OPTIONS),
                                   self._install)
        self._initialized = True

    def _install(self, datadir: str) -> None:
        result = subprocess.run(
            [
                self._install_db,
                "--no-defaults",
                f"--datadir={datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                # its own temp dir: the bootstrap's temporary tables in a shared /tmp collided between
                # servers installed at once (parallel test workers): "Unknown table 'mysql.tmp_user_sys'"
                f"--tmpdir={os.path.dirname(datadir)}",
                *_user_option(),
                *_SERVER_OPTIONS,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=self.startup_timeout,
        )
        if result.returncode != 0:
            output = result.stdout.decode(errors="replace")[:3000]  # the cause is at the top
            raise RuntimeError(f"mariadb-install-db failed ({result.returncode}):\n{output}")

    def start(self) -> None:
        """Start (or restart after ``stop()``) and block until root can log in."""
        if self._proc is not None and self._proc.poll() is None:
            return
        if not self._initialized:
            self._initialize()
        self._proc = subprocess.Popen(
            [
                self._mariadbd,
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--socket={self.socket}",
                f"--pid-file={self._pid_file}",
                f"--log-error={self.error_log}",
                # its own temp dir: big DELETE ... JOIN statements spill temp tables, and /tmp is shared
                f"--tmpdir={self.basedir}",
                *_user_option(),
                *_SERVER_OPTIONS,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Keep terminal Ctrl-C away from it; we shut it down cleanly ourselves.
            start_new_session=True,
        )
        self._await_start()

    def _log(self) -> str:
        return self.error_log

    def _listening(self) -> str:
        return f"on {self.socket}"

    def _shut_down(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGTERM)

    def connect(self, database: str | None = None) -> pymysql.connections.Connection:
        """Raw root connection, for setup that must not go through the code under test."""
        return pymysql.connect(
            unix_socket=self.socket,
            user="root",
            database=database,
            charset="utf8mb4",
            connect_timeout=5,
            autocommit=True,
        )

    def url(self, database: str) -> str:
        return f"mysql+pymysql://root@localhost/{database}?unix_socket={self.socket}"

    def create_database(self, name: str) -> None:
        self._execute(f"CREATE DATABASE {_quote(name)} CHARACTER SET utf8mb4")

    def drop_database(self, name: str) -> None:
        self._execute(f"DROP DATABASE IF EXISTS {_quote(name)}")

    def _execute(self, sql: str) -> None:
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
        finally:
            conn.close()


def _quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"
