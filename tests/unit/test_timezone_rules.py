"""Naive source-local times -> UTC at DST changes: the documented, deterministic rule (scraper/timezones.py).

Europe/Zurich 2011: clocks jump 02:00 -> 03:00 on 27 March and fall back 03:00 -> 02:00 on 30 October.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from scraper.core.timezones import Clock

ZURICH = Clock("Europe/Zurich")
D = datetime


def true_utc(local: datetime, fold: int = 0) -> datetime:
    return local.replace(tzinfo=ZoneInfo("Europe/Zurich"), fold=fold).astimezone(timezone.utc).replace(tzinfo=None)


def local_wall_clock(start_utc: datetime, end_utc: datetime, step: timedelta) -> list[tuple[datetime, datetime]]:
    """(utc, naive local) every `step`, as a DCS whose clock shows local time writes them."""
    out, t = [], start_utc
    while t <= end_utc:
        local = t.replace(tzinfo=timezone.utc).astimezone(ZoneInfo("Europe/Zurich")).replace(tzinfo=None)
        out.append((t, local))
        t += step
    return out


def test_ordinary_times_convert_with_the_offset_in_force():
    assert ZURICH.to_utc(D(2011, 1, 15, 12, 0)) == D(2011, 1, 15, 11, 0)  # CET, +1
    assert ZURICH.to_utc(D(2011, 7, 15, 12, 0)) == D(2011, 7, 15, 10, 0)  # CEST, +2


def test_utc_sources_are_left_alone():
    t = D(2011, 3, 27, 2, 30)
    assert Clock("UTC").to_utc(t) == t and Clock("UTC").local_candidates(t) == [t]


@pytest.mark.parametrize("local", [D(2011, 10, 30, 2, 0), D(2011, 10, 30, 2, 30), D(2011, 10, 30, 2, 59, 59)])
def test_ambiguous_local_time_is_read_as_its_first_occurrence(local):
    assert ZURICH.to_utc(local) == true_utc(local, fold=0) == local - timedelta(hours=2)


@pytest.mark.parametrize("local", [D(2011, 3, 27, 2, 0), D(2011, 3, 27, 2, 30), D(2011, 3, 27, 2, 59, 59, 999999)])
def test_non_existent_local_time_is_clamped_to_the_instant_of_the_jump(local):
    assert ZURICH.to_utc(local) == D(2011, 3, 27, 1, 0) == ZURICH.to_utc(D(2011, 3, 27, 3, 0))


def test_either_side_of_the_jumps_is_exact():
    assert ZURICH.to_utc(D(2011, 3, 27, 1, 59, 59)) == D(2011, 3, 27, 0, 59, 59)
    assert ZURICH.to_utc(D(2011, 3, 27, 3, 0, 1)) == D(2011, 3, 27, 1, 0, 1)
    assert ZURICH.to_utc(D(2011, 10, 30, 1, 59, 59)) == D(2011, 10, 29, 23, 59, 59)
    assert ZURICH.to_utc(D(2011, 10, 30, 3, 0)) == D(2011, 10, 30, 2, 0)


@pytest.mark.parametrize("day", [D(2011, 3, 27), D(2011, 10, 30)])
def test_conversion_is_monotonic_over_every_local_second_of_a_dst_night(day):
    """TIMESTART <= TIMEEND for any two source entries in order depends on this."""
    previous = None
    for s in range(0, 5 * 3600, 7):
        utc = ZURICH.to_utc(day + timedelta(seconds=s))
        assert previous is None or utc >= previous
        previous = utc


@pytest.mark.parametrize("start", [D(2011, 3, 26, 23, 0), D(2011, 10, 29, 23, 0)])
def test_a_local_wall_clock_dcs_is_converted_back_to_true_utc_except_the_repeated_hour(start):
    for utc, local in local_wall_clock(start, start + timedelta(hours=4), timedelta(seconds=10)):
        got = ZURICH.to_utc(local)
        if utc < D(2011, 10, 30, 1, 0) or utc >= D(2011, 10, 30, 2, 0) or start.month == 3:
            assert got == utc
        else:  # second pass through 02:00..02:59 local: read as the first pass, one hour earlier
            assert got == utc - timedelta(hours=1)


@pytest.mark.parametrize("day", [D(2011, 3, 27), D(2011, 10, 30)])
def test_bookmark_candidates_contain_the_local_time_that_produced_it(day):
    """Resuming looks the source entry up by the local times mapping onto the bookmarked UTC TIMEEND."""
    for s in range(0, 5 * 3600, 10):
        local = day + timedelta(seconds=s)
        if day.month == 3 and D(2011, 3, 27, 2) <= local < D(2011, 3, 27, 3):
            continue  # a correct DCS clock never writes these
        utc = ZURICH.to_utc(local)
        assert local in ZURICH.local_candidates(utc)
        assert all(ZURICH.to_utc(c) == utc for c in ZURICH.local_candidates(utc))
        assert ZURICH.to_utc(ZURICH.to_local(utc)) == utc
