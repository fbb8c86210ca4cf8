"""Value profiles: a profile maps (entry id, column index, date_time) to a value, deterministically,
so two fakers given the same settings write identical sources (which restart tests rely on)."""
from __future__ import annotations

import math
from datetime import datetime
from typing import Callable

Profile = Callable[[int, int, datetime], float]


def modulo_ramp(id: int, index: int, dt: datetime) -> float:
    return float(id % 10)


def constant(id: int, index: int, dt: datetime) -> float:
    return 20.0 + index


def sine(id: int, index: int, dt: datetime) -> float:
    """A daily temperature-like swing, phase-shifted per column."""
    seconds = dt.hour * 3600 + dt.minute * 60 + dt.second
    return round(20.0 + index + 2.0 * math.sin(2 * math.pi * seconds / 86400 + index), 3)


def step(id: int, index: int, dt: datetime) -> float:
    """Constant with a one-degree step every hour: each step is a `changed` propagation."""
    return 20.0 + index + dt.hour


PROFILES: dict[str, Profile] = {f.__name__: f for f in (modulo_ramp, constant, sine, step)}
