"""`scr.py plot`: per target column, the source entries and the target's step function, as a PNG.

Both are drawn in the target's columns and rows: a source entry is shown as the payload it would give
(the regime's propagate(), entries.py), a validity record as a horizontal step from TIMESTART to
TIMEEND at the value it holds, and each propagation as a mark at TIMEEND (where the entry that made
it lies). Times are UTC. A regime with many payload rows (pmthv: 192 channels per detector) is drawn
as small multiples of at most MAX_PANELS series, chosen with --columns and --rows.
Matplotlib's non-interactive Agg backend: no display needed (cron, CI, a server).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402 (after choosing the backend)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from scraper.config import Settings  # noqa: E402
from scraper.config.plugins import load_regime  # noqa: E402
from scraper.core.timezones import Clock  # noqa: E402
from scraper.look import entries as source_entries  # noqa: E402
from scraper.look.records import Record, View  # noqa: E402
from scraper.look.window import Window  # noqa: E402
from scraper.targets.dbi import Context  # noqa: E402

MAX_PANELS = 16
WIDTH_IN, PANEL_IN, TITLE_IN, DPI = 12.0, 2.0, 0.6, 100  # TITLE_IN: the figure's title and its room


@dataclass(frozen=True)
class Series:
    context: Context
    row: int  # ROW_COUNTER, from 1
    column: str
    label: str


@dataclass
class Plotted:
    section: str
    path: Path
    size: tuple[int, int]  # pixels (width, height)
    shown: list[Series]
    available: int
    records: int
    entries: int
    note: str = ""

    def text(self) -> str:
        more = "" if len(self.shown) == self.available else \
            f" of {self.available} (choose with --columns and --rows)"
        return (f"[{self.section}] wrote {self.path} ({self.size[0]}x{self.size[1]} px): {len(self.shown)} "
                f"series{more}, {self.entries} source entries, {self.records} validity records"
                + (f"; {self.note}" if self.note else ""))


def size_for(panels: int) -> tuple[int, int]:
    """The PNG's size in pixels for a number of panels (tests read it back from the file's header)."""
    cols = 1 if panels <= 4 else 2
    rows = max(1, -(-panels // cols))
    return int(WIDTH_IN * DPI), int(round((TITLE_IN + PANEL_IN * rows) * DPI))


def check_out(cfg: Settings, out: str | None) -> Path:
    """Refuse an --out that cannot be written before any work is done."""
    if not out:
        raise cfg.error("--out", "is required (a .png file to write)")
    path = Path(out)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise cfg.error("--out", f"{path} is a directory, not a file")
    if not parent.is_dir():
        raise cfg.error("--out", f"cannot write {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise cfg.error("--out", f"cannot write {path}: permission denied")
    return path


def parse_rows(cfg: Settings, text: str | None) -> set[int] | None:
    """`1-8,17` -> {1..8, 17}: ROW_COUNTERs to draw."""
    if not text:
        return None
    rows: set[int] = set()
    try:
        for part in text.split(","):
            low, _, high = part.strip().partition("-")
            first, last = int(low), int(high or low)
            if first < 1 or last < first:
                raise ValueError
            rows.update(range(first, last + 1))
    except ValueError:
        raise cfg.error("--rows", f'"{text}" is not a list of payload rows (use e.g. 1-8,17)') from None
    return rows


def save(fig, cfg: Settings, path: Path) -> None:
    """The PNG, carrying its own text description (PNG tEXt): the title and, per panel, its label and
    the unit of its value axis, for a reader or a program that cannot look at the picture."""
    title = fig.get_suptitle()
    panels = [": ".join(filter(None, (ax.get_title(loc="left") or ax.get_title(), ax.get_ylabel() or "-")))
              for ax in fig.axes if ax.get_visible()]
    try:
        fig.savefig(path, dpi=DPI, format="png", metadata={"Title": title, "Description": "\n".join(panels)})
    except OSError as exc:
        raise cfg.error("--out", f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


def _label(records: list[Record], row: int, column: str, keys: list[str], context: Context, contexts: int) -> str:
    first = records[0].rows[row - 1] if records and len(records[0].rows) >= row else {}
    tags = [f"{k}={first[k]}" for k in keys if k in first]
    where = f"subsite {context.subsite} " if contexts > 1 else ""
    rowtag = f" row {row}" if len(records[0].rows) > 1 else ""
    return f"{where}{column}{rowtag}" + (f" ({', '.join(tags)})" if tags else "")


def _constant_per_row(records: list[Record], column: str) -> bool:
    """A column whose value never changes within a row (channel numbers): a key, not a curve."""
    seen: dict[int, object] = {}
    for rec in records:
        for n, row in enumerate(rec.rows):
            if seen.setdefault(n, row.get(column)) != row.get(column):
                return False
    return True


def plot(cfg: Settings, view: View, window: Window, out: str | None, columns: list[str] | None = None,
         rows_text: str | None = None) -> Plotted:
    path = check_out(cfg, out)
    wanted_rows = parse_rows(cfg, rows_text)
    regime = load_regime(cfg)
    numeric = [c for c in source_entries.numeric_columns(regime) if c in view.columns]
    if columns:
        unknown = [c for c in columns if c not in numeric]
        if unknown:
            raise cfg.error("--columns", f"{', '.join(unknown)} not among the numeric columns of {view.kls} "
                            f"({', '.join(numeric)})")
    records = view.between(window.start, window.end)
    if not records:
        covered = view.covered()
        span = (f"the target covers {covered[0]:%Y-%m-%d %H:%M:%S} .. {covered[1]:%Y-%m-%d %H:%M:%S} UTC"
                if covered else "the target has no validity record yet")
        raise cfg.error("--from", f"no validity record overlaps {window.start:%Y-%m-%d %H:%M:%S} .. "
                        f"{window.end:%Y-%m-%d %H:%M:%S} UTC: {span}")
    by_ctx: dict[Context, list[Record]] = {}
    for rec in records:
        by_ctx.setdefault(rec.context, []).append(rec)
    keys = [c for c in numeric if all(_constant_per_row(recs, c) for recs in by_ctx.values())]
    curves = columns or [c for c in numeric if c not in keys] or numeric
    keys = [k for k in keys if k not in curves]
    series = [Series(ctx, n, c, _label(recs, n, c, keys, ctx, len(by_ctx)))
              for ctx, recs in by_ctx.items()
              for n in range(1, max(len(r.rows) for r in recs) + 1) if wanted_rows is None or n in wanted_rows
              for c in curves]
    if not series:
        raise cfg.error("--rows", f"no payload row {rows_text} in {view.kls} (records have up to "
                        f"{max(len(r.rows) for r in records)} rows)")
    shown = series[:MAX_PANELS]
    clock = Clock(cfg.source_tz)
    seen, note = {}, ""
    if cfg.get("aggregate"):
        note = "source entries not drawn: the payload aggregates each range in SQL"
    else:
        base = regime.scraper(cfg, regime.target)
        drawn = {s.context for s in shown}
        for d in source_entries.read(cfg, regime, clock.to_local(window.start), clock.to_local(window.end)):
            if d.context in drawn:
                seen[d.context] = (source_entries.array(source_entries.as_target(regime, base, d), curves),
                                   np.array(d.utc))
    fig = _draw(cfg, view.kls, window, shown, by_ctx, seen, curves, {c: regime.unit(c) for c in curves})
    save(fig, cfg, path)
    return Plotted(cfg.section, path, size_for(len(shown)), shown, len(series), len(records),
                   sum(len(times) for _values, times in seen.values()), note)


def figure(panels: int, title: str):
    """The small multiples of every plot: constrained layout, so that titles, unit labels and the
    time axis of each panel get the room they need and nothing overlaps or is clipped."""
    width, height = size_for(panels)
    ncols = 1 if panels <= 4 else 2
    nrows = max(1, -(-panels // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(width / DPI, height / DPI), dpi=DPI, sharex=True, squeeze=False,
                             layout="constrained")
    fig.suptitle(title, fontsize=10)
    return fig, axes


def _draw(cfg: Settings, kls: str, window: Window, shown: list[Series], by_ctx: dict[Context, list[Record]],
          seen: dict, curves: list[str], units: dict[str, str]):
    fig, axes = figure(len(shown), f"[{cfg.section}] {kls}: source entries (dots), validity records (steps), "
                                   "propagations (red ticks); UTC")
    for ax, s in zip(axes.flat, shown):
        k = curves.index(s.column)
        if s.context in seen:
            values, times = seen[s.context]
            if values.shape[1] >= s.row:
                ax.plot(times, values[:, s.row - 1, k], ".", ms=1.5, color="tab:blue", alpha=0.6)
        recs = by_ctx[s.context]
        held = [(r.timestart, r.timeend, _value(r, s.row, s.column)) for r in live(recs)]
        xs, ys = _steps(held)
        ax.plot(xs, ys, color="tab:orange", lw=1.2)
        # propagation marks: a tick on the time axis at each TIMEEND, readable for 100s of records a day
        ticks = [h[1] for h in held if window.start <= h[1] <= window.end]
        ax.plot(ticks, [0.0] * len(ticks), "|", ms=6, color="tab:red",
                transform=ax.get_xaxis_transform(), clip_on=False)
        ax.set_title(s.label, fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
        ax.set_xlim(window.start, window.end)
        if units.get(s.column):
            ax.set_ylabel(units[s.column], fontsize=7)
    for ax in list(axes.flat)[len(shown):]:
        ax.set_visible(False)
    for ax in axes.flat:
        ax.tick_params(labelbottom=True)  # every panel its own time axis: the grid may end unevenly
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    return fig


def live(recs: list[Record]) -> list[Record]:
    """The records of one context (in time order) less those superseded: a record holding no time
    (TIMESTART == TIMEEND) whose instant a newer record (higher SEQNO) also holds was closed at its
    start when that one replaced it (the rule targets.dbi.covered states in SQL, here on records
    already read). Drawn, it would join its old value to the new one with a vertical stroke nobody
    recorded."""
    def replaced(k: int, r: Record) -> bool:
        return r.timestart == r.timeend and any(o.seqno > r.seqno and o.timestart <= r.timestart <= o.timeend
                                                for o in recs[max(k - 2, 0):k + 3])
    return [r for k, r in enumerate(recs) if not replaced(k, r)]


def _steps(held: list[tuple]) -> tuple[list, list]:
    """A horizontal segment per record, joined by a vertical where the next record starts at its end
    (a contiguous chain) and broken where it does not (averager bins, a silent source): a step drawn
    across a gap would claim a value nobody recorded."""
    xs: list = []
    ys: list = []
    for k, (start, end, value) in enumerate(held):
        if k and held[k - 1][1] != start:
            xs.append(start)
            ys.append(np.nan)
        xs += [start, end]
        ys += [value, value]
    return xs, ys


def _value(rec: Record, row: int, column: str) -> float:
    if len(rec.rows) < row or rec.rows[row - 1].get(column) is None:
        return np.nan
    return float(rec.rows[row - 1][column])


REPORT_SIZE = (12.0, 5.0)  # inches: 1200 x 500 px
NEAR = 0.05  # points closer than this fraction of both axis spans share one label (they would overlap)


def report_figure(cfg: Settings, report, out: str, units: str = "") -> Path:
    """`report --out`: the chart of report_chart() as a PNG."""
    path = check_out(cfg, out)
    save(report_chart(report, units), cfg, path)
    return path


def report_chart(report, units: str = ""):
    """Records per day against fidelity (RMS and max deviation per column), one point per combination,
    the configured one ringed; without fidelity (aggregates), records per combination. `units`: the
    unit of the deviations, when every column shown has the same one. Constrained layout, labels of
    nearby points merged into one and set towards the middle, the legend below the panels: nothing
    overlaps and nothing is clipped, whatever the grid."""
    fig, axes = plt.subplots(1, 2, figsize=REPORT_SIZE, dpi=DPI, squeeze=False, layout="constrained")
    fig.suptitle(f"[{report.section}] records vs fidelity, {report.window.start:%Y-%m-%d %H:%M} .. "
                 f"{report.window.end:%Y-%m-%d %H:%M} UTC; labels: threshold / maxage / interval", fontsize=10)
    x = [r.per_day for r in report.rows]
    shown = report.columns[:10]
    for ax, which, name in ((axes[0, 0], 1, "RMS deviation"), (axes[0, 1], 0, "max deviation")):
        if report.columns:
            for c in shown:
                ax.plot(x, [r.deviation[c][which] for r in report.rows], "o", ms=4, label=c, alpha=0.8)
            ys = [np.nanmean([r.deviation[c][which] for c in report.columns]) for r in report.rows]
            name += f" ({units})" if units else ""
        else:
            ys = [r.records for r in report.rows]
            ax.plot(x, ys, "o", ms=5)
            name = "records"
        for r, xv, yv in zip(report.rows, x, ys):
            if r.configured:
                ax.plot([xv], [yv], "o", ms=12, mfc="none", mec="black")
        ax.set_xlabel("records per day")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.margins(x=0.08, y=0.15)
        _label_points(ax, [(xv, float(yv), r.label()) for r, xv, yv in zip(report.rows, x, ys)])
    if report.columns:
        fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=len(shown),
                   fontsize=8, frameon=False)
    return fig


def _label_points(ax, points: list[tuple[float, float, str]]) -> None:
    """One label per cluster of nearby points (their combinations, one per line), written towards the
    middle of the axes so that a label of an outermost point stays inside."""
    finite = [(xv, yv, text) for xv, yv, text in points if np.isfinite(xv) and np.isfinite(yv)]
    if not finite:
        return
    xs, ys = [p[0] for p in finite], [p[1] for p in finite]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    clusters: list[list[tuple[float, float, str]]] = []
    for p in sorted(finite, key=lambda p: (p[0], -p[1])):
        for cluster in clusters:
            if abs(cluster[0][0] - p[0]) < NEAR * span_x and abs(cluster[0][1] - p[1]) < NEAR * span_y:
                cluster.append(p)
                break
        else:
            clusters.append([p])
    mid_x, mid_y = min(xs) + span_x / 2, min(ys) + span_y / 2
    for cluster in clusters:
        xv, yv = cluster[0][0], max(p[1] for p in cluster)
        right, upper = xv > mid_x, yv > mid_y
        texts = list(dict.fromkeys(p[2] for p in cluster))
        ax.annotate("\n".join(texts), (xv, yv), fontsize=7, xytext=(-8 if right else 8, -6 if upper else 6),
                    textcoords="offset points", ha="right" if right else "left", va="top" if upper else "bottom")
