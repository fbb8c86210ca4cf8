"""Durations and times exactly as operators type them in scraper.cfg or on the command line."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from scraper.core.units import format_duration, format_time, parse_duration, parse_time


@pytest.mark.parametrize("text, seconds", [
    ("10s", 10), ("3m", 180), ("1h", 3600), ("2d", 2 * 86400), ("2w", 14 * 86400),
    ("90", 90), ("0", 0), ("1.5", 1.5), ("0.5m", 30), (" 10s ", 10), ("10 s", 10),
])
def test_durations_in_every_documented_unit(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_numbers_from_code_are_seconds():
    assert parse_duration(45) == timedelta(seconds=45)
    assert parse_duration(timedelta(minutes=2)) == timedelta(minutes=2)


@pytest.mark.parametrize("text", ["5 parsecs", "x", "", "10y", "-5s", "1h30m", "s", "ten seconds", "1e3"])
def test_bad_durations_say_what_is_accepted(text):
    with pytest.raises(ValueError) as exc:
        parse_duration(text)
    message = str(exc.value)
    assert f'"{text}" is not a duration' in message
    assert "10s" in message and "plain seconds" in message


def test_formatting_a_duration_gives_back_the_same_duration():
    """--help shows durations the way operators write them; reading that spelling back is lossless."""
    rng = random.Random(3)
    for _ in range(500):
        td = timedelta(seconds=rng.choice([1, 60, 3600, 86400, 604800]) * rng.randint(0, 50) + rng.choice([0, 0, 7, 0.25]))
        shown = format_duration(td)
        assert parse_duration(shown) == td
        assert shown[-1] in "smhdw"


def test_format_duration_picks_the_largest_exact_unit():
    assert [format_duration(parse_duration(t)) for t in ("600", "120m", "48h", "14d", "90s")] == \
        ["10m", "2h", "2d", "2w", "90s"]


@pytest.mark.parametrize("text, expected", [
    ("2011-02-01 00:00:00", datetime(2011, 2, 1)),
    ("2011-02-01T12:34:56", datetime(2011, 2, 1, 12, 34, 56)),
    ("2011-02-01", datetime(2011, 2, 1)),
    ("2011-10-30 02:30:00.250", datetime(2011, 10, 30, 2, 30, 0, 250000)),
])
def test_times_are_naive_source_local_wall_clock(text, expected):
    value = parse_time(text)
    assert value == expected and value.tzinfo is None
    assert parse_time(format_time(value)) == value


@pytest.mark.parametrize("text", ["yesterday", "2011-13-01 00:00:00", "2011-02-30", "01/02/2011", ""])
def test_bad_times_show_the_expected_spelling(text):
    with pytest.raises(ValueError, match=r"is not a time \(use 2011-02-01 00:00:00\)"):
        parse_time(text)


def test_a_time_with_a_zone_is_refused_because_source_times_are_naive():
    with pytest.raises(ValueError, match="source_tz"):
        parse_time("2011-02-01 00:00:00+01:00")
