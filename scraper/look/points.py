"""Looking at modes that write points, not validity records: a bridge's time series, a decimator's
thinned table.

Both hold one row per instant (several per instant when a regime reshapes an entry into rows, or
when entries share a timestamp), so "what holds at T" is the row(s) at or last before T, and a range
is the rows inside it. `Point` is that row, whatever the mode; each mode's view (bridged.py,
thinned.py) finds them and says what the data covers, and show/plot (show_points.py,
plot_points.py) render them without knowing which mode they came from.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from scraper.config import Settings

# mode -> "module:class" of its view; imported only when a section of that mode is looked at
POINT_VIEWS = {"bridge": "scraper.look.bridged:BridgeView", "decimator": "scraper.look.thinned:ThinnedView",
               "logger": "scraper.look.logged:LoggedView"}
# kinds laid out as time series (a table per source, `time` in unix seconds): the word for their rows
SERIES = {"bridge": "bridged", "logger": "logged"}
NUMERIC_DECLARED = ("INT", "REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")


@dataclass
class Point:
    """One stored row: its table, UTC time, values; `part` says what a decimator did to its slice."""

    table: str
    time: datetime  # UTC
    values: dict[str, Any]
    unix: float | None = None  # the bridge's stored `time`, as Grafana reads it
    part: str = ""  # decimator: "thinned", "full" (within keep) or "pending" (behind it, not thinned yet)


@dataclass
class Layout:
    """What a point view holds: its tables, their value columns and which of those are numeric."""

    tables: list[str]
    columns: list[str]  # the union over tables, in table order
    numeric: list[str]
    group: str | None = None  # the decimator's group column (one series per group value)
    notes: list[str] = field(default_factory=list)  # lines a listing prints under its title
    thinned_until: datetime | None = None  # decimator: its cursor (entries before it are thinned)
    keep_boundary: datetime | None = None  # decimator: the horizon (entries from it on are full rate)


class PointView(Protocol):
    """What show and plot need from a section whose mode writes points."""

    kind: str  # "bridge", "logger" or "decimator": the words the title uses
    name: str  # the file or table looked at
    layout: Layout

    def at(self, when: datetime) -> list[Point]: ...

    def between(self, start: datetime, end: datetime) -> list[Point]: ...

    def covered(self) -> tuple[datetime, datetime] | None: ...

    def close(self) -> None: ...


def handles(mode: str) -> bool:
    return mode in POINT_VIEWS


def view(cfg: Settings) -> PointView:
    """The point view of a bridge, decimator or logger section (its data opened read-only)."""
    module, _, name = POINT_VIEWS[cfg.mode].partition(":")
    return getattr(importlib.import_module(module), name)(cfg)


def is_numeric(declared: str) -> bool:
    """SQLite's affinity rules, roughly: a declared type naming INT, REAL, FLOAT or DOUBLE holds numbers."""
    return any(word in declared.upper() for word in NUMERIC_DECLARED)


def span_text(covered: tuple[datetime, datetime] | None, what: str) -> str:
    return (f"the {what} covers {covered[0]:%Y-%m-%d %H:%M:%S} .. {covered[1]:%Y-%m-%d %H:%M:%S} UTC"
            if covered else f"the {what} holds no row yet")


def check_at(cfg: Settings, view: PointView, when: datetime) -> list[Point]:
    """The points at or last before `when`; a time before the first or after the last row is an error
    (after the last row, "last before" would present stale data as current)."""
    covered = view.covered()
    if covered is None or not covered[0] <= when <= covered[1]:
        raise cfg.error("--at", f"{when:%Y-%m-%d %H:%M:%S} UTC is outside the data: "
                        f"{span_text(covered, view.kind + ' ' + view.name)}")
    return view.at(when)


def check_between(cfg: Settings, view: PointView, start: datetime, end: datetime) -> list[Point]:
    found = view.between(start, end)
    if not found:
        raise cfg.error("--from", f"no row between {start:%Y-%m-%d %H:%M:%S} and {end:%Y-%m-%d %H:%M:%S} UTC: "
                        f"{span_text(view.covered(), view.kind + ' ' + view.name)}")
    return found
