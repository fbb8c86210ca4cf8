"""Pure logic of the decimator's slices: valid widths, the horizon, alignment with the averager's bins."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from scraper.core.bins import Bins
from scraper.core.timezones import Clock
from scraper.modes.decimate.slices import Slicing, check_every, check_keep


@pytest.mark.parametrize("every", ["1s", "10s", "30s", "1m", "5m", "15m", "1h", "2h", "1d"])
def test_widths_dividing_a_day_are_accepted(every):
    from scraper.core.units import parse_duration

    assert check_every(parse_duration(every)) is None


@pytest.mark.parametrize("every,words", [("7m", "does not divide one day"), ("2d", "does not divide one day"),
                                         ("1.5s", "not a whole number of seconds"), ("0", "not a whole number")])
def test_widths_not_dividing_a_day_are_refused_with_the_reason(every, words):
    from scraper.core.units import parse_duration

    assert words in check_every(parse_duration(every))


def test_keep_shorter_than_every_is_refused():
    assert "shorter than every = 1m" in check_keep(timedelta(seconds=30), timedelta(minutes=1))
    assert check_keep(timedelta(minutes=1), timedelta(minutes=1)) is None


def test_horizon_is_newest_minus_keep_floored_to_a_slice_boundary():
    s = Slicing(Clock("UTC"), timedelta(minutes=1), timedelta(days=14))
    assert s.horizon(datetime(2020, 11, 18, 9, 3, 59, 999999)) == datetime(2020, 11, 4, 9, 3)
    assert s.horizon(datetime(2020, 11, 18, 9, 4)) == datetime(2020, 11, 4, 9, 4)


@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "Asia/Kolkata", "Europe/Zurich"])
def test_slices_are_the_averagers_bins_and_windows_select_exactly_their_local_times(zone):
    clock, every = Clock(zone), timedelta(hours=1)
    s, bins = Slicing(clock, every, every), Bins(every)
    start = datetime(2020, 10, 24, 22)  # across the Zurich fall-back night
    for k in range(30):
        a, b = start + k * every, start + (k + 1) * every
        w = s.window(a, b)
        assert clock.to_utc(w.local_lo) >= a and clock.to_utc(w.local_hi) >= b
        if w.local_lo == w.local_hi:
            continue  # the UTC hour whose local times repeat an earlier hour (read as the first): empty
        for local in (w.local_lo, w.local_hi - timedelta(microseconds=1)):
            assert bins.index(clock.to_utc(local)) == s.index(a)
            assert w.bin_of(local, bins) == s.index(a)  # the Python mirror of the SQL slice expression
