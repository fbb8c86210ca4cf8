"""Clean shutdown: SIGTERM/SIGINT or a sentinel file finish the current propagation, then exit 0.

The sentinel exists for operators without a process manager (or without the right to signal another
user's process): `touch var/PLEASE-EXIT-adtemp_scraper` stops that section at the next sample.

The stop request is a `threading.Event` so the engine, the faker and the outage backoff only ever ask
`stop.is_set()` / `stop.wait(t)`. This subclass also notices the sentinel: `is_set()` looks at the file
system at most every POLL seconds (a catch-up samples tens of thousands of entries per second), and
`wait()` sleeps in slices of POLL so a long tuned sleep still ends promptly.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from scraper.config import Settings

log = logging.getLogger("scraper")
POLL = 0.25  # seconds


def sentinel_path(cfg: Settings) -> Path | None:
    """`exit_sentinel` with `{section}` filled in, relative to the config file; None when disabled."""
    text = (cfg.exit_sentinel or "").strip()
    if not text or text == "None":
        return None
    path = Path(text.replace("{section}", cfg.section))
    return path if path.is_absolute() else cfg.base_dir / path


class StopRequest(threading.Event):
    def __init__(self, sentinel: Path | None = None):
        super().__init__()
        self.sentinel = sentinel
        self.reason: str | None = None
        self._checked = 0.0

    def request(self, reason: str) -> None:
        if not super().is_set():
            self.reason = reason
            log.info("%s: stopping after the current sample", reason)
        self.set()

    def is_set(self) -> bool:
        if super().is_set():
            return True
        if self.sentinel is not None:
            now = time.monotonic()
            if now - self._checked >= POLL:
                self._checked = now
                if self.sentinel.exists():
                    # Consumed, so that the next start (after an upgrade, say) runs normally.
                    self.sentinel.unlink(missing_ok=True)
                    self.request(f"found sentinel {self.sentinel}")
                    return True
        return False

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = POLL if deadline is None else min(POLL, deadline - time.monotonic())
            if left <= 0:
                return False
            super().wait(left)
        return True
