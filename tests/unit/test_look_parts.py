"""Pure pieces of show/plot/report: time arguments, row lists, which record holds a time, deviation sums."""
from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pytest

from scraper.errors import ConfigError
from scraper.look.plot import parse_rows, size_for
from scraper.look.report import Fidelity, held_index
from scraper.look.window import when, window


class Cfg:
    """What the look helpers need of Settings: a zone and one-line errors."""

    source_tz = "Asia/Shanghai"
    path, section = "scraper.cfg", "s"

    def error(self, key, message):
        return ConfigError(self.path, self.section, key, message)


def test_times_are_utc_unless_local():
    assert when(Cfg(), "--at", "2011-02-01 06:00") == datetime(2011, 2, 1, 6)
    assert when(Cfg(), "--at", "2011-02-01 14:00", local=True) == datetime(2011, 2, 1, 6)


@pytest.mark.parametrize("start,end,flag,words", [
    ("2011-02-02", "2011-02-01", "--from", "2011-02-02 00:00:00 is after --to 2011-02-01 00:00:00"),
    (None, "2011-02-01", "--from", "is required"),
    ("2011-02-01", "", "--to", "is required"),
    ("2011-02-31", "2011-03-01", "--from", "is not a time"),
])
def test_bad_windows_name_the_flag(start, end, flag, words):
    with pytest.raises(ConfigError) as err:
        window(Cfg(), start, end)
    assert str(err.value).startswith(f"scraper.cfg [s] {flag}: ") and words in str(err.value)


def test_a_window_of_one_day():
    assert window(Cfg(), "2011-02-01", "2011-02-02").days == 1


def test_row_lists():
    assert parse_rows(Cfg(), "1-3,7") == {1, 2, 3, 7}
    assert parse_rows(Cfg(), None) is None
    for bad in ("0", "3-1", "a", "1,,2"):
        with pytest.raises(ConfigError):
            parse_rows(Cfg(), bad)


def test_the_record_valid_at_a_time_owns_its_start_and_the_last_one_its_end_too():
    t = [datetime(2011, 2, 1, 0, m) for m in range(0, 60, 10)]
    starts, ends = t[0:3], t[1:4]  # [0,10) [10,20) [20,30]
    probe = np.array([t[0] - timedelta(seconds=1), t[0], t[0] + timedelta(minutes=5), t[1], t[2], t[3],
                      t[3] + timedelta(seconds=1)], dtype="datetime64[us]")
    assert held_index(starts, ends, probe).tolist() == [-1, 0, 0, 1, 2, 2, -1]
    assert held_index([], [], probe).tolist() == [-1] * 7


def test_fidelity_is_max_and_rms_over_rows_and_entries_ignoring_none():
    fid = Fidelity(2)
    held = np.array([[[1.0, 5.0], [2.0, np.nan]], [[1.0, 5.0], [2.0, 7.0]]])
    seen = np.array([[[1.5, 5.0], [2.0, 1.0]], [[0.0, 5.0], [4.0, 7.0]]])
    fid.add(held, seen)
    (m1, r1), (m2, r2) = fid.result(["a", "b"]).values()
    assert (m1, m2) == (2.0, 0.0)
    assert r1 == pytest.approx(math.sqrt((0.25 + 0 + 1 + 4) / 4)) and r2 == 0.0


def test_png_sizes():
    assert size_for(1) == (1200, 260) and size_for(4) == (1200, 860) and size_for(5) == (1200, 660)
    assert size_for(16) == (1200, 1660)


def test_a_bridged_instants_rows_are_numbered_and_twins_repeat_them():
    """pmthv writes 3 rows per instant here; an instant with twin entries holds 6 and repeats 1..3;
    adtemp (one row per entry) has depth 1 even where twins give an instant two rows."""
    from scraper.look.plot_points import positions
    from scraper.look.points import Point

    t = [datetime(2011, 2, 1, 0, 0, s) for s in (0, 10, 20)]
    pts = [Point("T", t[0], {})] * 3 + [Point("T", t[1], {})] * 6 + [Point("T", t[2], {})] * 3
    assert positions(pts) == ([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3], 3)
    single = [Point("T", t[0], {}), Point("T", t[1], {}), Point("T", t[1], {}), Point("T", t[2], {})]
    assert positions(single) == ([1, 1, 1, 1], 1)


def test_a_bridged_time_is_shown_as_stored():
    from scraper.look.show_points import unix_text

    assert (unix_text(1296540000), unix_text(1296540000.0), unix_text(1296540000.25)) == \
        ("1296540000", "1296540000", "1296540000.25")
