"""`python tests/clocked.py CLOCK_FILE ARGS...`: a real `scr.py ARGS...` whose wall clock reads CLOCK_FILE.

The file holds a naive UTC time (ISO format) that the test moves while the process runs: the same
hook the in-process tests move with monkeypatch (scraper.core.wallclock.now_utc), across a process
boundary. Everything else is the ordinary `scr.py`.
"""
from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path


def main() -> int:
    clock = Path(sys.argv[1])
    from scraper.core import wallclock
    from scraper.cli import main as scr

    wallclock.now_utc = lambda: datetime.fromisoformat(clock.read_text().strip())
    return scr(sys.argv[2:])


if __name__ == "__main__":
    raise SystemExit(main())
