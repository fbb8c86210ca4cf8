"""UTC bins found among naive source-local times: the SQL-shaped rule of datetimebin.py must agree with
the engine's own local->UTC conversion (timezones.Clock) everywhere, DST nights included."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from scraper.core.bins import Bins, ctime, local_of, territory, transitions
from scraper.core.timezones import Clock

ZONES = ["UTC", "Asia/Shanghai", "Europe/Zurich", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
# Windows around both DST transitions of 2011 in the northern and southern hemisphere.
WINDOWS = [datetime(2011, 3, 26), datetime(2011, 10, 29), datetime(2011, 4, 2), datetime(2011, 3, 12),
           datetime(2011, 11, 5), datetime(2011, 2, 1)]


def test_bins_are_counted_from_the_epoch_in_utc():
    hour, day = Bins(timedelta(hours=1)), Bins(timedelta(days=1))
    t = datetime(2012, 2, 29, 15, 47, 3)
    assert hour.floor(t) == datetime(2012, 2, 29, 15) and day.floor(t) == datetime(2012, 2, 29)
    assert hour.start(hour.index(t) + 1) == datetime(2012, 2, 29, 16)
    with pytest.raises(ValueError):
        Bins(timedelta(milliseconds=1500))


def test_territory_line_reads_like_the_original_framework():
    clock, hour = Clock("UTC"), Bins(timedelta(hours=1))
    chunks = list(territory(clock, hour, timedelta(days=1), datetime(2012, 2, 29, 15), datetime(2012, 3, 1, 11)))
    assert [c.line() for c in chunks] == [
        "[0] [Wed Feb 29 15:00:00 2012, Thu Mar 1 00:00:00 2012] 9:00:00",
        "[1] [Thu Mar 1 00:00:00 2012, Thu Mar 1 11:00:00 2012] 11:00:00",
    ]
    assert ctime(datetime(2011, 2, 1, 0, 0, 5)) == "Tue Feb 1 00:00:05 2011"


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("width", [timedelta(minutes=30), timedelta(hours=1), timedelta(days=1)])
def test_chunk_bin_rule_agrees_with_to_utc_for_every_local_time(zone, width):
    clock, bins, rng = Clock(zone), Bins(width), random.Random(f"{zone}{width}")
    for day in WINDOWS:
        start = bins.floor(day - timedelta(days=1))
        end = bins.floor(day + timedelta(days=3))
        chunks = list(territory(clock, bins, max(width, timedelta(hours=12)), start, end))
        assert chunks[0].start == start and chunks[-1].end == end
        assert all(a.end == b.start and a.local_hi == b.local_lo for a, b in zip(chunks, chunks[1:]))
        probes = [start + timedelta(hours=12) + timedelta(seconds=rng.randrange(0, 2 * 86400)) for _ in range(400)]
        probes += [day + timedelta(hours=h, minutes=m) for h in range(48) for m in (0, 30, 59)]
        for local in probes:
            utc = clock.to_utc(local)
            owners = [c for c in chunks if c.local_lo <= local < c.local_hi]
            inside = [c for c in chunks if c.start <= utc < c.end]
            assert owners == inside, (zone, local, utc)
            if owners:
                assert owners[0].bin_of(local, bins) == bins.index(utc), (zone, local, utc)


@pytest.mark.parametrize("zone", ZONES)
def test_local_of_is_the_first_local_time_converting_at_or_after(zone):
    clock = Clock(zone)
    for day in WINDOWS:
        for h in range(0, 48):
            utc = day + timedelta(hours=h, minutes=30 * (h % 2))
            local = local_of(clock, utc)
            assert clock.to_utc(local) >= utc
            assert clock.to_utc(local - timedelta(microseconds=1)) < utc


def test_transitions_are_found_to_the_microsecond():
    clock = Clock("Europe/Zurich")
    assert transitions(clock, datetime(2011, 1, 1), datetime(2012, 1, 1)) == [
        datetime(2011, 3, 27, 1), datetime(2011, 10, 30, 1)]
    assert transitions(Clock("Asia/Shanghai"), datetime(2011, 1, 1), datetime(2012, 1, 1)) == []
