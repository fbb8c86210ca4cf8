"""Outage backoff schedule and the stop request (signals + sentinel) as pure logic."""
from __future__ import annotations

import threading
import time

from scraper.runtime.retry import Backoff
from scraper.runtime.stop import POLL, StopRequest


def test_backoff_doubles_from_half_a_second_up_to_the_cap():
    b = Backoff(cap=60)
    assert [b.delay(n) for n in range(9)] == [0.5, 1, 2, 4, 8, 16, 32, 60, 60]
    assert Backoff(cap=0.2).delay(0) == 0.2
    assert Backoff(cap=60).delay(10_000) == 60  # no overflow after a week-long outage


def test_a_sentinel_ends_a_long_wait_promptly_and_is_consumed(tmp_path):
    sentinel = tmp_path / "PLEASE-EXIT-x"
    stop = StopRequest(sentinel)
    threading.Timer(0.2, sentinel.touch).start()
    t0 = time.monotonic()
    assert stop.wait(3600) is True
    assert time.monotonic() - t0 < 0.2 + 2 * POLL
    assert stop.reason == f"found sentinel {sentinel}"
    assert not sentinel.exists() and stop.is_set()


def test_a_request_ends_a_wait_at_once_and_a_timeout_still_returns_false():
    stop = StopRequest(None)
    assert stop.wait(0.05) is False
    threading.Timer(0.1, stop.request, args=("received SIGTERM",)).start()
    t0 = time.monotonic()
    assert stop.wait(3600) is True and time.monotonic() - t0 < 30  # not the hour
    assert stop.reason == "received SIGTERM"


def test_the_signal_watcher_ends_when_a_program_closes_the_wakeup_pipe():
    """A program calling cli.main() in its own process (a test) puts its signal handlers and wakeup fd
    back afterwards: closing the run's wakeup pipe ends the watcher thread instead of leaving it to spin."""
    import os
    import signal

    from processes import wait_for
    from scraper.runtime.stop import SIGNALS

    handlers = {signum: signal.getsignal(signum) for signum in SIGNALS}
    before = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(before)
    old = {t for t in threading.enumerate() if t.name == "scraper-stop"}
    StopRequest().on_signals(lambda: 0)
    try:
        (watcher,) = {t for t in threading.enumerate() if t.name == "scraper-stop"} - old
        assert watcher.is_alive()
    finally:
        os.close(signal.set_wakeup_fd(before))
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    wait_for(lambda: not watcher.is_alive(), 10, "the watcher thread to end")
