"""Real `scr.py` processes for operations tests: started with a log file, always cleaned up."""
from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import sqlalchemy as sa


def with_modules(path: Path) -> dict[str, str]:
    """The environment of a child `scr.py` that imports a test's own regime modules from `path`."""
    return {**os.environ, "PYTHONPATH": str(path)}


def spawn(cfg_path: Path, section: str, *args: str, log: Path | None = None,
          path: Path | None = None) -> subprocess.Popen:
    """`scr.py -s section`, its log in a file; the regime modules in `path` importable (with_modules)."""
    log = log or cfg_path.parent / f"{section}.log"
    env = with_modules(path) if path else None
    return subprocess.Popen([sys.executable, "-m", "scraper", "--cfg", str(cfg_path), "-s", section, *args],
                            stdout=subprocess.PIPE, stderr=open(log, "wb"), text=True, env=env)


@contextmanager
def running(*procs: subprocess.Popen) -> Iterator[tuple[subprocess.Popen, ...]]:
    """Kill whatever is still running when the block ends, even when an assertion failed inside."""
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)


def on_a_terminal(cfg_path: Path, section: str, *args: str, timeout: float = 120) -> tuple[int, str, str]:
    """Run `scr.py -s section` with its stderr on a pseudo-terminal, where the progress bar is drawn:
    (exit status, everything the terminal showed, stdout)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "scraper", "--cfg", str(cfg_path), "-s", section, *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, b"".join(chunks).decode(), out


def terminate(proc: subprocess.Popen, signum: int = signal.SIGTERM, timeout: float = 20) -> tuple[int, float, str]:
    """Send `signum`; return (exit status, seconds until it exited, stdout)."""
    t0 = time.monotonic()
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, time.monotonic() - t0, out


def wait_for(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except sa.exc.SQLAlchemyError:
            pass  # table not created yet, database restarting, ...
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def scalar(engine: sa.Engine, sql: str):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar()


def newest(engine: sa.Engine, table: str, column: str):
    """max(column) as a datetime on every backend (SQLite stores text; the typed column parses it)."""
    from scraper.db import DateTime

    stmt = sa.select(sa.func.max(sa.column(column, DateTime))).select_from(sa.table(table))
    with engine.connect() as conn:
        return conn.execute(stmt).scalar()
