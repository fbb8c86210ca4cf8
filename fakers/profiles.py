"""Value profiles: a profile maps (entry id, column index, date_time) to a value.

Every profile is deterministic given its settings, so two fakers configured alike write identical
sources, and a faker stopped and restarted continues the same series (restart tests rely on both).
Profiles are callables built from the section's settings by `make_profile(cfg)`.
"""
from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # pragma: no cover
    from scraper.config import Settings

Profile = Callable[[int, int, datetime], float]


def modulo_ramp(id: int, index: int, dt: datetime) -> float:
    """The original framework's profile: every column = id % 10, so nearly every entry changes."""
    return float(id % 10)


def constant(id: int, index: int, dt: datetime) -> float:
    """Never changes: only `maxage` makes the scraper propagate."""
    return 20.0 + index


class Step:
    """Constant, jumping by `step_size` every `step_every` of DB time since `faker_timestart`:
    each jump is exactly one `changed` propagation when step_size exceeds the threshold."""

    def __init__(self, start: datetime, every: timedelta, size: float):
        self.start, self.every, self.size = start, every, size

    def __call__(self, id: int, index: int, dt: datetime) -> float:
        steps = (dt - self.start) // self.every if dt >= self.start else 0
        return 20.0 + index + self.size * steps


class Sine:
    """A temperature-like swing of `sine_amplitude` with period `sine_period`, phase-shifted per column."""

    def __init__(self, period: timedelta, amplitude: float):
        self.period, self.amplitude = period.total_seconds(), amplitude

    def __call__(self, id: int, index: int, dt: datetime) -> float:
        seconds = (dt - datetime(2000, 1, 1)).total_seconds()
        return round(20.0 + index + self.amplitude * math.sin(2 * math.pi * seconds / self.period + index), 3)


class RandomWalk:
    """Each column wanders by a Gaussian step of `walk_step` per entry, seeded by `profile_seed`.

    The value at entry id is a function of (seed, id) alone: a restarted faker fast-forwards the walk
    to its first id, so stopping and restarting a faker never changes the series it writes.
    """

    def __init__(self, seed: int, sigma: float):
        self.seed, self.sigma = seed, sigma
        self._rewind()

    def _rewind(self) -> None:
        self._rng, self._id, self._walk = random.Random(self.seed), 0, [0.0] * WALK_COLUMNS

    def __call__(self, id: int, index: int, dt: datetime) -> float:
        if id < self._id:  # asked for the past: replay from the start
            self._rewind()
        while self._id < id:
            self._id += 1
            for i in range(WALK_COLUMNS):
                self._walk[i] += self._rng.gauss(0.0, self.sigma)
        return round(20.0 + index + self._walk[index % WALK_COLUMNS], 4)


WALK_COLUMNS = 8  # independent walks; wider tables reuse them cyclically (pmthv has 192 channels)


def make_profile(cfg: "Settings") -> Profile:
    """The profile named by `profile`, configured from its keys; unknown names are a config error."""
    name = cfg.profile
    if name not in PROFILES:
        raise cfg.error("profile", f'unknown profile "{name}" (use one of {", ".join(PROFILES)})')
    return PROFILES[name](cfg)


PROFILES: dict[str, Callable[["Settings"], Profile]] = {
    "modulo_ramp": lambda cfg: modulo_ramp,
    "constant": lambda cfg: constant,
    "step": lambda cfg: Step(cfg.faker_timestart, cfg.step_every, cfg.step_size),
    "random_walk": lambda cfg: RandomWalk(cfg.profile_seed, cfg.walk_step),
    "sine": lambda cfg: Sine(cfg.sine_period, cfg.sine_amplitude),
}
