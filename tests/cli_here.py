"""`scr.py ARGS` run by the console script's own `cli.main` inside the test process, as a CompletedProcess.

For the many operator-mistake cases: what they prove is the one line on stderr and the exit status 2
that `cli.main` gives (the console script is `raise SystemExit(cli.main())`), which a process start-up
(~0.5 s of CPU of imports each) adds nothing to. An exception `cli.main` does not turn into a line fails
the test, as its traceback would fail the real process's. Each module keeps real `scr.py` processes for
its families of mistakes and for what is about the process itself (signals, exit status of the real
script, the environment, the console script's lookup).

The call sees what a fresh process would, and leaves nothing behind for the next one:
- the environment of test_cli_errors.scr (cwd, HOME, SCRAPER_MYCNF, no SCRAPER_CFG, `env`), `path`
  first on sys.path as PYTHONPATH (and `python -m`'s current directory) put it;
- no handler on the root logger, so `logging.basicConfig` in cli.main writes to stderr as in a process
  (pytest's own log capture would otherwise swallow a second line); the warning filters of a fresh
  interpreter, a warning printed on stderr;
- stdout and stderr captured at the file descriptors (capfd): a line written below Python counts too;
- afterwards: the environment, cwd, sys.path, logging, SIGTERM/SIGINT handlers and the wakeup fd are
  restored (closing the run's wakeup pipe ends its watcher thread), modules imported from outside the
  project (a test's regime files) are forgotten, and unreferenced engines are collected (their
  connections closed, as a process exit would).
"""
from __future__ import annotations

import gc
import importlib
import logging
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Callable

import pytest

from scraper import cli
from scraper.runtime.stop import SIGNALS

PROJECT = Path(cli.__file__).resolve().parents[1]
KEPT = (str(PROJECT), sys.prefix, sys.base_prefix)  # modules from here stay imported, as the test's own do


def _fresh_warnings() -> None:
    """The filters of `python -c 'import warnings; print(warnings.filters)'` (each insert goes first)."""
    warnings.resetwarnings()
    for category in (ResourceWarning, ImportWarning, PendingDeprecationWarning, DeprecationWarning):
        warnings.simplefilter("ignore", category)
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
    warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: sys.stderr.write(
        warnings.formatwarning(message, category, filename, lineno, line))


def _forget_modules(before: set[str]) -> None:
    for name in set(sys.modules) - before:
        where = getattr(sys.modules[name], "__file__", None) or ""
        if where and not where.startswith(KEPT):
            del sys.modules[name]


def run_here(capfd: pytest.CaptureFixture, *args: str, cwd: Path, env: dict[str, str] | None = None,
             path: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    saved_env, saved_cwd, saved_path, saved_modules = dict(os.environ), os.getcwd(), sys.path[:], set(sys.modules)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_signals = {signum: signal.getsignal(signum) for signum in SIGNALS}
    saved_wakeup = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(saved_wakeup)
    for name in ("SCRAPER_CFG", "SCRAPER_MYCNF"):
        os.environ.pop(name, None)
    os.environ.update({"HOME": str(cwd), "SCRAPER_MYCNF": str(cwd / "my.cnf"), **(env or {})})
    os.chdir(cwd)
    sys.path[:0] = [str(p) for p in path]
    importlib.invalidate_caches()  # a regime file written a moment ago is found
    root.handlers.clear()
    capfd.readouterr()
    try:
        with warnings.catch_warnings():
            _fresh_warnings()
            status = cli.main(list(args))
        printed = capfd.readouterr()
    finally:
        for handler in root.handlers:
            if handler not in saved_handlers:
                handler.close()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        wakeup = signal.set_wakeup_fd(saved_wakeup)
        if wakeup not in (-1, saved_wakeup):
            os.close(wakeup)
        for signum, handler in saved_signals.items():
            signal.signal(signum, handler)
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.path[:] = saved_path
        _forget_modules(saved_modules)
        gc.collect()
    return subprocess.CompletedProcess(["scr.py", *args], status, printed.out, printed.err)


@pytest.fixture
def here(capfd) -> Callable[..., subprocess.CompletedProcess]:
    """`here(*args, cwd=..., env=..., path=...)`: run_here with this test's captured file descriptors."""
    return lambda *args, **kw: run_here(capfd, *args, **kw)
