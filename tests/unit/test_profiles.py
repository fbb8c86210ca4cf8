"""Fake value profiles and DCS realism options: pure logic, no database."""
from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta

import pytest

from fakers.ddl import statements, table_statements
from fakers.profiles import PROFILES, RandomWalk, Sine, Step, constant, make_profile, modulo_ramp
from fakers.realism import DUPLICATE, LATE, NORMAL, Plan, Realism
from scraper import modes
from scraper.errors import ConfigError

T0 = datetime(2011, 2, 1)
TEN = timedelta(seconds=10)


def cfg_with(tmp_path, **keys):
    from scraper import config

    path = tmp_path / "scraper.cfg"
    lines = ["[f]", "regime = regimes.adtemp:AdTemp", "mode = faker", "source = sqlite:///x.db"]
    lines += [f"{k} = {v}" for k, v in keys.items()]
    path.write_text("\n".join(lines) + "\n")
    return modes.settings(str(path), "f")


def test_modulo_ramp_is_id_modulo_ten_in_every_column():
    assert [modulo_ramp(i, col, T0) for i in range(1, 13) for col in (0, 4)] == \
        [float(i % 10) for i in range(1, 13) for _ in (0, 4)]


def test_constant_never_changes_over_time_or_ids():
    values = {constant(i, 2, T0 + i * TEN) for i in range(1, 500)}
    assert values == {constant(1, 2, T0)}


@pytest.mark.parametrize("every,size", [(timedelta(minutes=5), 0.7), (timedelta(hours=1), -2.0)])
def test_step_jumps_by_step_size_exactly_at_every_step_time(every, size):
    profile = Step(T0, every, size)
    times = [T0 + k * TEN for k in range(2000)]
    values = [profile(k, 1, t) for k, t in enumerate(times, 1)]
    jumps = [(t, round(b - a, 9)) for t, a, b in zip(times[1:], values, values[1:]) if b != a]
    expected_times = [t for t in times[1:] if (t - T0) % every == timedelta(0)]
    assert [t for t, _ in jumps] == expected_times
    assert {d for _, d in jumps} == {round(size, 9)}


def test_random_walk_same_seed_same_series_other_seed_other_series():
    a, b, c = RandomWalk(7, 0.1), RandomWalk(7, 0.1), RandomWalk(8, 0.1)
    series = lambda p: [p(i, col, T0) for i in range(1, 300) for col in range(5)]  # noqa: E731
    assert series(a) == series(b)
    assert series(a) != series(c)


def test_random_walk_restarted_faker_continues_the_same_series():
    whole = RandomWalk(3, 0.2)
    expected = [whole(i, 0, T0) for i in range(1, 401)]
    restarted = RandomWalk(3, 0.2)  # a new faker process that starts at id 251
    assert [restarted(i, 0, T0) for i in range(251, 401)] == expected[250:]
    assert [restarted(i, 0, T0) for i in range(1, 11)] == expected[:10]  # and may even go back


def test_random_walk_steps_have_the_configured_spread():
    walk = RandomWalk(11, 0.5)
    values = [walk(i, 0, T0) for i in range(1, 5001)]
    steps = [b - a for a, b in zip(values, values[1:])]
    mean = sum(steps) / len(steps)
    sd = (sum((s - mean) ** 2 for s in steps) / len(steps)) ** 0.5
    assert abs(mean) < 0.05 and 0.45 < sd < 0.55


def test_sine_stays_within_amplitude_and_repeats_after_one_period():
    period, amp = timedelta(hours=6), 1.5
    sine = Sine(period, amp)
    times = [T0 + k * timedelta(minutes=7) for k in range(400)]
    for col in range(3):
        values = [sine(0, col, t) for t in times]
        centre = 20.0 + col
        assert all(abs(v - centre) <= amp + 1e-9 for v in values)
        assert max(values) - min(values) > 1.9 * amp
        assert all(sine(0, col, t + period) == pytest.approx(sine(0, col, t), abs=2e-3) for t in times[:50])


def test_every_profile_is_chosen_by_name_and_configured_by_its_keys(tmp_path):
    assert set(PROFILES) == {"modulo_ramp", "constant", "step", "random_walk", "sine"}
    step = make_profile(cfg_with(tmp_path, profile="step", step_every="2m", step_size="0.25"))
    assert step(1, 0, T0 + timedelta(minutes=4)) - step(1, 0, T0) == 0.5
    walk = make_profile(cfg_with(tmp_path, profile="random_walk", profile_seed=5, walk_step=0.3))
    assert [walk(i, 0, T0) for i in range(1, 50)] == [RandomWalk(5, 0.3)(i, 0, T0) for i in range(1, 50)]


def test_unknown_profile_is_one_config_error_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r'\[f\] profile: unknown profile "ramp" \(use one of modulo_ramp'):
        make_profile(cfg_with(tmp_path, profile="ramp"))


@pytest.mark.parametrize("key,value", [("faker_late", "1.5"), ("faker_duplicates", "-0.1"), ("faker_gaps", "often")])
def test_realism_probabilities_are_validated(tmp_path, key, value):
    with pytest.raises(ConfigError, match=rf"\[f\] {key}: "):
        cfg_with(tmp_path, **{key: value})


# --- realism: the order and timing of entries ----------------------------------------------------------

def take(realism: Realism, n: int, seed: int = 1) -> list:
    return list(itertools.islice(Plan(T0, TEN, realism, random.Random(seed)), n))


def test_without_realism_entries_are_a_perfect_metronome():
    entries = take(Realism(), 100)
    assert [e.dt for e in entries] == [T0 + k * TEN for k in range(100)]
    assert {e.kind for e in entries} == {NORMAL} and not any(e.bad for e in entries)


def test_duplicates_repeat_the_previous_timestamp_at_about_the_configured_rate():
    entries = take(Realism(duplicates=0.1), 5000)
    dups = [i for i, e in enumerate(entries) if e.kind == DUPLICATE]
    assert 0.07 < len(dups) / len(entries) < 0.12
    assert all(entries[i].dt == entries[i - 1].dt and entries[i - 1].kind == NORMAL for i in dups)
    normal = [e.dt for e in entries if e.kind == NORMAL]
    assert normal == sorted(set(normal))  # apart from duplicates, time advances


def test_gaps_leave_the_source_silent_for_the_gap_length():
    gap = timedelta(minutes=30)
    plan = Plan(T0, TEN, Realism(gaps=0.01, gap=gap), random.Random(4))
    entries = list(itertools.islice(plan, 3000))
    steps = [b.dt - a.dt for a, b in zip(entries, entries[1:])]
    assert set(steps) == {TEN, TEN + gap}
    assert steps.count(TEN + gap) == plan.gaps > 10


def test_bad_quality_flags_about_the_configured_fraction():
    entries = take(Realism(bad_quality=0.2), 5000)
    assert 0.17 < sum(e.bad for e in entries) / len(entries) < 0.23


def test_late_entries_are_committed_after_newer_ones_and_none_is_lost():
    late_by = 4
    plan = Plan(T0, TEN, Realism(late=0.05, late_by=late_by), random.Random(9))
    entries = list(itertools.islice(plan, 3000)) + plan.drain()
    late = [i for i, e in enumerate(entries) if e.kind == LATE]
    assert 100 < len(late) < 200
    newer_before = [sum(e.dt > entries[i].dt for e in entries[:i]) for i in late]
    assert min(newer_before) >= 1  # an older date_time than rows already present
    # held back for `late_by` newer slots (fewer rows when a neighbour is held back too)
    assert sum(n >= late_by for n in newer_before) > 0.7 * len(late)
    assert max(newer_before) <= 2 * late_by
    times = sorted(e.dt for e in entries)
    assert times == [T0 + k * TEN for k in range(len(entries))]  # every slot written exactly once


def test_realism_is_reproducible_from_the_seed():
    r = Realism(duplicates=0.05, gaps=0.01, bad_quality=0.1, late=0.02)
    assert take(r, 2000, seed=3) == take(r, 2000, seed=3)
    assert take(r, 2000, seed=3) != take(r, 2000, seed=4)


# --- mysqldump --no-data files --------------------------------------------------------------------------

DUMP = """-- MySQL dump 10.13  Distrib 5.0.45, for redhat-linux-gnu (x86_64)
--
-- Host: dcs1    Database: dybdcsdb
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40103 SET TIME_ZONE='+00:00' */;

--
-- Table structure for table `DBNS_SAB_Temp`
--

DROP TABLE IF EXISTS `DBNS_SAB_Temp`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8 */;
CREATE TABLE `DBNS_SAB_Temp` (
  `id` int(10) unsigned NOT NULL auto_increment,
  `date_time` datetime NOT NULL default '0000-00-00 00:00:00',
  `Temp_PT1` decimal(6,2) default NULL COMMENT 'deg C; "PT1"; 50% duty',
  PRIMARY KEY  (`id`),
  KEY `date_time` (`date_time`)
) ENGINE=InnoDB AUTO_INCREMENT=1 DEFAULT CHARSET=latin1;
/*!40101 SET character_set_client = @saved_cs_client */;
# a hash comment
CREATE TABLE IF NOT EXISTS Other (id int);
-- Dump completed on 2011-02-01 10:00:00
"""


def test_dump_is_split_into_statements_without_comments_or_session_settings():
    stmts = statements(DUMP)
    assert [s.split()[0] for s in stmts] == ["DROP", "CREATE", "CREATE"]
    assert "COMMENT 'deg C; \"PT1\"; 50% duty'" in stmts[1]  # a ';' inside quotes does not split
    assert stmts[1].endswith("DEFAULT CHARSET=latin1")
    drops, creates = table_statements(DUMP)
    assert set(drops) == {"DBNS_SAB_Temp"} and set(creates) == {"DBNS_SAB_Temp", "Other"}
