"""Sleep tuning decisions as pure logic: lag in effective heartbeats -> sleep."""
from __future__ import annotations

from datetime import timedelta as T

import pytest

from scraper.core.tuning import FAR_BEHIND, STEADY_FRACTION, SleepTuner, human


@pytest.mark.parametrize("offset", [0, 1, 5])
def test_lag_is_measured_in_effective_heartbeats(offset):
    tuner = SleepTuner(T(seconds=10), offset, T(seconds=3))
    assert tuner.heartbeats(T(minutes=1)) == pytest.approx(6 / (offset + 1))


@pytest.mark.parametrize("lag_s", [0, 5, 19.9, 20.1, 600, 86400])
def test_far_behind_never_sleeps_and_caught_up_sleeps_about_a_heartbeat(lag_s):
    tuner = SleepTuner(T(seconds=10), 0, T(seconds=3))
    sleep = tuner.tune(T(seconds=lag_s))
    far = lag_s / 10 > FAR_BEHIND
    assert tuner.catching_up is far
    assert sleep == (0 if far else 10 * STEADY_FRACTION)
    assert sleep < 10  # a new entry is seen within one heartbeat of its arrival: lag stays < 2 heartbeats


def test_configured_sleep_holds_until_the_first_tune_and_idle_ends_a_catch_up():
    tuner = SleepTuner(T(seconds=10), 1, T(seconds=3))
    assert tuner.idle() == 3
    tuner.tune(T(hours=1))
    assert tuner.sleep == 0
    assert tuner.idle() == 20 * STEADY_FRACTION  # offset 1: one entry read every 20 s of DB time
    assert not tuner.catching_up


def test_tuning_runs_every_nth_propagation_at_most_once_per_heartbeat():
    tuner = SleepTuner(T(seconds=0), 0, T(seconds=3), every=3)
    due = [tuner.propagated() for _ in range(9)]
    assert due == [False, False, True] * 3
    slow = SleepTuner(T(hours=1), 0, T(seconds=3), every=1)
    assert slow.propagated()
    slow.tune(T(0))
    assert not any(slow.propagated() for _ in range(100))  # measured less than a heartbeat ago


def test_durations_in_log_lines_read_like_the_original_framework():
    assert human(T(minutes=9, seconds=50)) == "0:09:50"
    assert human(T(seconds=7.5)) == "0:00:07.5"
    assert human(T(seconds=1)) == "0:00:01"
