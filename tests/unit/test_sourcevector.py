"""The SourceVector state machine (docs/concepts.md), as pure logic (no database)."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from scraper.api import Source
from scraper.core.sourcevector import Instance, SourceVector

T0 = datetime(2011, 2, 1, 0, 1, 0)
MAXAGE = timedelta(minutes=1)
INTERVAL = timedelta(seconds=10)


def entry(id: int, seconds: float, value: float = 20.0) -> Instance:
    return Instance({"id": id, "date_time": T0 + timedelta(seconds=seconds), "Temp_PT1": value})


def by_threshold(threshold: float):
    return lambda sv: abs(sv[-1].Temp_PT1 - sv[0].Temp_PT1) > threshold


def never(sv) -> bool:
    return False


def fresh() -> SourceVector:
    return SourceVector(Source("DBNS_SAB_Temp"), T0)


def test_first_entry_fills_sv0_and_proceeds_nothing():
    sv = fresh()
    assert sv.sample(entry(6, 0), never, MAXAGE) == "notfull"
    assert len(sv) == 1 and not sv.full and not sv.proceed
    assert sv[0] is sv[-1] and sv[0].id == 6


def test_second_entry_becomes_sv_minus_one_and_replaces_the_previous_one():
    sv = fresh()
    sv.sample(entry(6, 0), never, MAXAGE)
    sv.sample(entry(7, 10), never, MAXAGE)
    assert sv.full and (sv[0].id, sv[-1].id) == (6, 7) and sv.state == "unchanged"
    sv.sample(entry(8, 20), never, MAXAGE)
    assert (sv[0].id, sv[-1].id) == (6, 8)


def test_maxage_is_strict_exactly_maxage_is_unchanged():
    sv = fresh()
    sv.sample(entry(6, 0), never, MAXAGE)
    assert sv.sample(entry(12, 60), never, MAXAGE) == "unchanged"
    assert sv.sample(entry(13, 60.000001), never, MAXAGE) == "overage"
    assert sv.proceed


def test_changed_wins_over_overage():
    sv = fresh()
    sv.sample(entry(6, 0, 20.0), never, MAXAGE)
    assert sv.sample(entry(30, 600, 25.0), by_threshold(1.0), MAXAGE) == "changed"
    assert sv.proceed


def test_change_is_measured_against_sv0_not_against_the_previous_entry():
    """Slow drift: each step is below threshold, but the sum against sv[0] crosses it."""
    sv = fresh()
    changed = by_threshold(1.0)
    sv.sample(entry(1, 0, 20.0), changed, MAXAGE)
    states = [sv.sample(entry(i, 10 * i, 20.0 + 0.3 * i), changed, MAXAGE) for i in range(1, 5)]
    assert states == ["unchanged", "unchanged", "unchanged", "changed"]


def test_advance_moves_sv0_and_the_cursor():
    sv = fresh()
    sv.sample(entry(6, 0), never, MAXAGE)
    sv.sample(entry(13, 70), never, MAXAGE)
    sv.advance(INTERVAL)
    assert len(sv) == 1 and sv[0].id == 13
    assert sv.tcursor == T0 + timedelta(seconds=80)
    assert sv.sample(entry(14, 80), never, MAXAGE) == "unchanged"  # full again, not notfull
    assert (sv[0].id, sv[-1].id) == (13, 14)


def test_resumed_vector_starts_full_with_the_bookmarked_entry():
    sv = SourceVector(Source("DBNS_SAB_Temp"), T0 + INTERVAL, entry(6, 0))
    assert sv.sample(entry(7, 10), never, MAXAGE) == "unchanged"


def test_log_lines_follow_the_documented_format():
    sv = fresh()
    sv.sample(entry(6, 0), never, MAXAGE)
    assert sv.line() == "SV 1   (6,)  2011-02-01 00:01:00 partial  notfull  (00:01:00 ++)  ==>"
    for i in range(7, 14):
        sv.sample(entry(i, 10 * (i - 6)), never, MAXAGE)
    assert sv.line() == "SV 8   (6, 13)  2011-02-01 00:01:00 full  overage  (00:01:00 00:02:10)  ==> PROCEED"


@pytest.mark.parametrize("seed", range(20))
def test_random_streams_give_contiguous_validities_and_only_justified_proceeds(seed):
    """Property: drive the state machine with random values and gaps; every decision agrees with its definition."""
    rng = random.Random(seed)
    threshold = rng.choice([0.5, 1.0, 2.0])
    maxage = timedelta(seconds=rng.choice([30, 60, 300]))
    changed = by_threshold(threshold)
    sv, value, seconds = fresh(), 20.0, 0.0
    validities = []
    for i in range(1, 400):
        seconds += rng.choice([10, 10, 10, 20, 60, 0.5])
        value += rng.choice([0, 0, 0, rng.uniform(-1.5, 1.5)])
        state = sv.sample(entry(i, seconds, value), changed, maxage)
        if i == 1:
            assert state == "notfull"
            continue
        delta, age = abs(sv[-1].Temp_PT1 - sv[0].Temp_PT1), sv[-1].t - sv[0].t
        assert state == ("changed" if delta > threshold else "overage" if age > maxage else "unchanged")
        if sv.proceed:
            validities.append((sv[0].t, sv[-1].t))
            sv.advance(INTERVAL)
    assert validities, "the stream should propagate at least once"
    assert all(a[1] == b[0] for a, b in zip(validities, validities[1:]))  # contiguous
    assert all(start < end for start, end in validities)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("logged", [False, True])
def test_a_stretch_decides_what_sampling_one_by_one_decides(seed, logged):
    """sample_stretch (catch-up's batch loop, with or without a line per sample) and sample() entry by entry
    reach the same states, counts and sv[-1] on the same random stream, stretch after stretch."""
    from collections import deque
    rng = random.Random(seed)
    threshold, maxage = rng.choice([0.5, 1.0]), timedelta(seconds=rng.choice([30, 60]))
    changed = by_threshold(threshold)
    stream, seconds, value = [], 0.0, 20.0
    for i in range(1, 300):
        seconds += rng.choice([10, 10, 20, 0.5])
        value += rng.choice([0, 0, 0, rng.uniform(-1.2, 1.2)])
        stream.append(entry(i, seconds, value))
    one, batch = fresh(), fresh()
    one.sample(stream[0], changed, maxage)
    batch.sample(stream[0], changed, maxage)
    lines: list[str] = []
    left, at = deque(stream[1:]), 1
    while left:
        n = batch.sample_stretch(left, changed, maxage, lines.append if logged else None)
        for inst in stream[at:at + n]:
            state = one.sample(inst, changed, maxage)
            if state != "unchanged":
                break
        at += n
        assert (batch.state, batch.nsample, batch[-1]) == (one.state, one.nsample, one[-1])
        if batch.proceed:
            batch.advance(INTERVAL)
            one.advance(INTERVAL)
    assert at == len(stream)
    assert (len(lines) == len(stream) - 1) is logged
    empty = fresh()
    empty.sample(stream[0], changed, maxage)
    assert empty.sample_stretch(deque(), changed, maxage) == 0 and empty.state == "notfull"


def test_an_entry_maker_keeps_names_order_and_the_last_of_a_repeated_name():
    """Rows become Instances by a generated function: by keyword arguments where every name can be one,
    else by a dict display (a name with a space, a Python keyword, a non-ASCII name Python would
    normalize); the same mapping either way."""
    from scraper.core.sourcevector import entry_maker
    for names in (["id", "date_time", "Temp_PT1", "x", "x"], ["id", "date_time", "a b", "class", "x", "x"],
                  ["id", "date_time", "ﬁ", "x", "x"]):
        row = tuple(range(len(names)))
        made = entry_maker(names, [1])(row, "converted")
        expected = dict(zip(names, row)) | {"date_time": "converted"}
        assert type(made) is Instance and list(made.items()) == list(expected.items())
    assert dict(entry_maker(["id"])((7,))) == {"id": 7}
