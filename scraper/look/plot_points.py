"""`scr.py plot` for a bridge, decimator or logger section: the stored points per column, as a PNG.

A bridge: one panel per series (table x row x column). A reshaping regime writes several rows per
instant (pmthv: 192 channels); the k-th row of an instant is one channel (bridged.py), so a series
is "row k" of a table, labelled by the columns constant in it (ladder, col, ring) and chosen with
--rows and --columns, at most MAX_PANELS of them, as small multiples like the DBI plot.
A decimator: one panel per numeric column, each group a coloured series, the thinned part shaded
up to the cursor and the keep boundary (the horizon) drawn as a red line: the picture shows where
the table goes from one entry per slice to full rate.
Same sizes as the DBI plot (plot.size_for), so a reader of the PNG knows what to expect.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scraper.config import Settings

from scraper.config.plugins import load_regime

from .plot import MAX_PANELS, check_out, figure, parse_rows, save, size_for  # plot chose the Agg backend

import matplotlib.dates as mdates  # noqa: E402,I001 (after plot.py has chosen the non-interactive backend)
from .points import SERIES, Point, PointView, check_between
from .window import Window


@dataclass(frozen=True)
class Series:
    table: str
    row: int  # bridge: the k-th row of an instant, from 1; decimator: 0
    column: str
    label: str


@dataclass
class PlottedPoints:
    section: str
    kind: str
    path: Path
    size: tuple[int, int]
    shown: list[Series]
    available: int
    points: int
    tally: str

    def text(self) -> str:
        more = "" if len(self.shown) == self.available else \
            f" of {self.available} (choose with --columns and --rows)"
        return (f"[{self.section}] wrote {self.path} ({self.size[0]}x{self.size[1]} px): {len(self.shown)} "
                f"series{more}, {self.tally}")


def positions(points: list[Point]) -> tuple[list[int], int]:
    """Per point (in time, rowid order) its row within its instant, and the usual rows per instant:
    an instant holding a multiple of them (entries sharing a timestamp) repeats the same rows."""
    per_time = Counter(p.time for p in points)
    depth = Counter(per_time.values()).most_common(1)[0][0] if per_time else 1
    out, seen, last = [], 0, None
    for p in points:
        seen = seen + 1 if p.time == last else 0
        last = p.time
        out.append(seen % depth + 1)
    return out, depth


def _constant(values: list, rows: list[int]) -> bool:
    first: dict[int, object] = {}
    return all(first.setdefault(r, v) == v for v, r in zip(values, rows))


def _as_floats(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def plot(cfg: Settings, view: PointView, window: Window, out: str | None, columns: list[str] | None = None,
         rows_text: str | None = None) -> PlottedPoints:
    path = check_out(cfg, out)
    layout = view.layout
    numeric = [c for c in layout.numeric if c not in ("id", layout.group)]
    if columns:
        unknown = [c for c in columns if c not in numeric]
        if unknown:
            raise cfg.error("--columns", f"{', '.join(unknown)} not among the numeric columns of {view.name} "
                            f"({', '.join(numeric)})")
    if rows_text and view.kind not in SERIES:
        raise cfg.error("--rows", f"a {view.kind} section has one row per entry (choose with --columns)")
    wanted = parse_rows(cfg, rows_text)
    found = check_between(cfg, view, window.start, window.end)
    unit = load_regime(cfg, need_target=False).unit
    if view.kind in SERIES:
        fig, shown, available, tally = _bridge(cfg, view, window, found, numeric, columns, wanted, rows_text)
    else:
        fig, shown, available, tally = _thinned(cfg, view, window, found, columns or numeric)
    for ax, s in zip(fig.axes, shown):
        if unit(s.column):
            ax.set_ylabel(unit(s.column), fontsize=7)
    save(fig, cfg, path)
    return PlottedPoints(cfg.section, view.kind, path, size_for(len(shown)), shown, available, len(found), tally)


def _bridge(cfg, view, window, found, numeric, columns, wanted, rows_text):
    by_table: dict[str, list[Point]] = {}
    for p in found:
        by_table.setdefault(p.table, []).append(p)
    series, tables, depths = [], {}, {}
    for table, pts in by_table.items():
        rows, depth = positions(pts)
        depths[table] = depth
        own = [c for c in numeric if c in pts[0].values]  # a table's own columns, not another topic's
        cols = {c: [p.values.get(c) for p in pts] for c in own}
        keys = [c for c in own if depth > 1 and _constant(cols[c], rows)]
        curves = [c for c in columns if c in cols] if columns else [c for c in own if c not in keys] or own
        keys = [k for k in keys if k not in curves]
        tables[table] = (np.array([p.time for p in pts]), np.array(rows), cols)
        first = {}
        for i, r in enumerate(rows[:depth * 2]):  # every row number occurs in the first two instants
            first.setdefault(r, i)
        for n in range(1, depth + 1):
            if wanted is not None and n not in wanted:
                continue
            tags = ", ".join(f"{k}={cols[k][first[n]]}" for k in keys) if n in first else ""
            for c in curves:
                label = f"{table} {c}" + (f" row {n}" if depth > 1 else "") + (f" ({tags})" if tags else "")
                series.append(Series(table, n, c, label))
    if not series:
        raise cfg.error("--rows", f"no row {rows_text} in the {SERIES[view.kind]} tables (an instant has up to "
                        f"{max(depths.values())} rows)")
    shown = series[:MAX_PANELS]
    fig, axes = _figure(cfg, len(shown), f"[{cfg.section}] {view.kind} {view.name}: {SERIES[view.kind]} points; UTC")
    floats: dict[tuple[str, str], np.ndarray] = {}  # converted once per table and column, for shown series only
    for ax, s in zip(axes, shown):
        times, rows, cols = tables[s.table]
        values = floats.setdefault((s.table, s.column), _as_floats(cols[s.column]))
        mask = rows == s.row
        ax.plot(times[mask], values[mask], ".-", ms=2, lw=0.6, color="tab:blue")
        _finish(ax, s.label, window)
    tally = f"{len(found)} {SERIES[view.kind]} rows from {len(by_table)} table" + ("" if len(by_table) == 1 else "s")
    return fig, shown, len(series), tally


def _thinned(cfg, view, window, found, curves):
    layout = view.layout
    groups: dict[object, list[Point]] = {}
    for p in found:
        groups.setdefault(p.values.get(layout.group) if layout.group else None, []).append(p)
    shown = [Series(view.name, 0, c, f"{view.name} {c}") for c in curves]
    title = (f"[{cfg.section}] {view.name}: entries" + (f" per {layout.group}" if layout.group else "")
             + "; thinned part shaded, keep boundary red; UTC")
    fig, axes = _figure(cfg, len(shown), title)
    cursor, horizon = layout.thinned_until, layout.keep_boundary
    for k, (ax, s) in enumerate(zip(axes, shown)):
        for g, pts in groups.items():
            ax.plot([p.time for p in pts], _as_floats([p.values.get(s.column) for p in pts]), ".", ms=3,
                    label=str(g) if g is not None else None)
        if cursor is not None and cursor > window.start:
            ax.axvspan(window.start, min(cursor, window.end), color="0.85", zorder=0)
        if horizon is not None and window.start <= horizon <= window.end:
            ax.axvline(horizon, color="tab:red", lw=1)
        _finish(ax, s.label, window)
        if k == 0 and layout.group:  # beside the panels: inside one it would hide points
            fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize=7, markerscale=3,
                       title=layout.group, title_fontsize=7, frameon=False)
    parts = Counter(p.part for p in found)
    tally = f"{len(found)} entries (" + ", ".join(f"{parts[p]} {p}" for p in ("thinned", "pending", "full")
                                                   if parts[p]) + ")"
    if horizon is not None:
        tally += f", keep boundary {horizon:%Y-%m-%d %H:%M:%S} UTC"
    return fig, shown, len(shown), tally


def _figure(cfg: Settings, panels: int, title: str):
    fig, axes = figure(panels, title)
    flat = list(axes.flat)
    for ax in flat[panels:]:
        ax.set_visible(False)
    return fig, flat[:panels]


def _finish(ax, label: str, window: Window) -> None:
    ax.set_title(label, fontsize=8, loc="left")
    ax.tick_params(labelsize=7, labelbottom=True)
    ax.set_xlim(window.start, window.end)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
