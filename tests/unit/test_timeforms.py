"""SQLite text times as DCS tables spell them: every value of the column's form is read as its time,
anything else is the column's one-line error (never a traceback, never a different time)."""
from __future__ import annotations

import random
from datetime import datetime

import pytest

from scraper.db.timeforms import TEXT_TIME, NotATime, TextTime, parse_text


def _reference(value: str, sep: str) -> datetime | None:
    """What the pattern says, read field by field: the time the text spells, or None."""
    if len(value) < 19 or value[10] != sep or not TEXT_TIME.match(value):
        return None
    head, _, frac = value.partition(".")
    try:
        day = datetime.strptime(head, f"%Y-%m-%d{sep}%H:%M:%S")
    except ValueError:
        return None
    return day.replace(microsecond=int((frac + "000000")[:6])) if frac else day


def _mutated(rng: random.Random, sep: str) -> str:
    """A well-formed time with up to three random edits (digits, separators, offsets, letters)."""
    chars = list(rng.choice([f"2011-02-01{sep}08:17:50", f"2011-02-01{sep}08:17:50.123456",
                             f"2011-12-31{sep}23:59:59.5", f"2011-02-28{sep}00:00:00.000000"]))
    for _ in range(rng.randint(0, 3)):
        chars[rng.randrange(len(chars))] = rng.choice("0123456789 -:.T+Z,x")
    return "".join(chars)


@pytest.mark.parametrize("sep", [" ", "T"])
def test_mutated_spellings_read_as_the_pattern_says(sep):
    """Random edits of well-formed times: parse_text returns the time the text spells exactly when it
    is of the form, and NotATime otherwise."""
    rng = random.Random(7)
    for _ in range(20_000):
        value = _mutated(rng, sep)
        expected = _reference(value, sep)
        if expected is None:
            with pytest.raises(NotATime):
                parse_text(value, sep)
        else:
            assert parse_text(value, sep) == expected, value


@pytest.mark.parametrize("value", ["2011-02-30 00:00:30", "2011-13-01 00:00:00.250", "2011-02-01 24:00:00",
                                   "2011-02-01 08:17:50+01:00", "2011-02-01 08:17:50.123+01", "yesterday"])
def test_what_spells_no_time_of_the_form_is_the_columns_error(value):
    with pytest.raises(NotATime, match="is not a time of this column's form"):
        parse_text(value, " ")


@pytest.mark.parametrize("sep", [" ", "T"])
def test_a_column_read_at_once_is_read_as_each_value_alone(sep):
    """A batch of entries converts its time column in one go (C-level passes for the common spellings):
    the same times as value by value, None kept, and the same error for a value not of the form,
    whatever the mix — mostly well-formed columns with a stray edit, as a DCS table may hold."""
    rng = random.Random(11)
    column_type = TextTime(sep)
    for _ in range(3_000):
        column = [rng.choice([f"2011-02-01{sep}08:17:{rng.randrange(60):02d}",
                              f"2011-02-01{sep}08:17:50.{rng.randrange(10**6):06d}"]) for _ in range(rng.randint(0, 8))]
        if column and rng.random() < 0.5:
            column[rng.randrange(len(column))] = _mutated(rng, sep) if rng.random() < 0.8 else None
        expected = [None if v is None else _reference(v, sep) for v in column]
        if any(e is None and v is not None for e, v in zip(expected, column)):
            with pytest.raises(NotATime):
                column_type.process_column(column)
        else:
            assert column_type.process_column(column) == expected, column
