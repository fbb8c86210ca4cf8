"""One library function per CLI verb; the CLI only parses arguments and prints what these return."""
from __future__ import annotations

from typing import Any

from scraper import config, modes
from scraper.config import Settings
from scraper.config.plugins import load_regime
from scraper.errors import OperatorError
from scraper.runtime.runner import RunOptions


def settings(cfg_path: str | None, section: str, overrides: dict[str, Any] | None = None) -> Settings:
    """A section's settings, checked against its mode's keys, and the regime/config agreement
    checked too: everything that can be known before any database is touched."""
    cfg = modes.settings(config.config_path(cfg_path), section, overrides)
    mode = modes.mode(cfg.mode)
    # a mode without a target (faker, decimator) runs regimes that declare none; a mode with regimes
    # of its own kind (stream) loads them itself (its module's stream_regime)
    own = getattr(mode.module, "stream_regime", None)
    mode.validate(cfg, own(cfg) if own else load_regime(cfg, need_target="target" in mode.keys))
    return cfg


def status(cfg_path: str | None) -> list:
    """`scr.py status`: a SectionStatus for every section of the config (see scraper/runtime/status.py)."""
    from scraper.runtime.status import status as section_statuses

    return section_statuses(config.config_path(cfg_path))


def supervisord(cfg_path: str | None, section: str, dest: str, overrides: dict[str, str] | None = None) -> list:
    """`scr.py -S PATH -s SECTION|ALL [--KEY VALUE ...]`: write supervisord program files, return their
    paths. The overrides go into each program's command line, so it runs what was checked here."""
    from scraper.runtime.supervisord import write_programs

    path = config.config_path(cfg_path)
    for name in (config.sections(path) if section == "ALL" else [section]):
        settings(path, name, overrides)  # the same checks as a run: no program file for a section that exits 2
    try:
        return write_programs(path, section, dest, overrides)
    except OSError as exc:
        raise OperatorError(f"scr.py -S {dest}: cannot write program files: {exc.strerror}: {exc.filename}") from None


def run(cfg: Settings, options: RunOptions | None = None, **flags: Any):
    """Run a section in its mode and return its summary (an object with `.text()`).

    `flags` (allow_create=, drop=, catchup=, stop=, dry_run=) are a shorthand for RunOptions."""
    return modes.mode(cfg.mode).run(cfg, options or RunOptions(**flags))


def new_regime(name: str, dest: str = ".") -> list:
    """`scr.py new-regime NAME`: write a regime module, its config sections and a kit test."""
    from scraper.newregime import new_regime as write

    return write(name, dest)


def backup(cfg: Settings, dest: str):
    """`scr.py backup -s SECTION DEST`: a consistent, integrity-checked copy of a bridged file."""
    from scraper.modes.bridge.backup import backup as backup_file

    return backup_file(cfg, dest)


def migrate(cfg: Settings, action: str):
    """`scr.py migrate -s SECTION check|fix`: the differences between a bridged file and the section's
    layout (check), or applied (fix); a Plan (`.needed`, `.refusals`, `.text()`)."""
    from scraper.modes.bridge.migrate import migrate as migrate_file

    return migrate_file(cfg, action)
def show(cfg: Settings, *, at: str | None = None, start: str | None = None, end: str | None = None,
         local: bool = False, fmt: str = "table", columns: list[str] | None = None):
    """`scr.py show`: the records valid at `at`, or those overlapping [start, end] (scraper/look/show.py);
    for a bridge or decimator section the rows at or last before `at`, or inside the range
    (scraper/look/show_points.py), with source-local times too when `local`."""
    from scraper.look import points, records, show as look_show, show_points, window

    if at is not None and (start or end):
        raise cfg.error("--at", "give either --at TIME or --from A --to B, not both")
    when = window.when(cfg, "--at", at, local) if at is not None else None
    span = window.window(cfg, start, end, local) if when is None else None
    if points.handles(cfg.mode):
        seen = points.view(cfg)
        try:
            return show_points.show(cfg, seen, fmt, at=when, window=span, columns=columns, local=local)
        finally:
            seen.close()
    view = records.view(cfg)
    try:
        return look_show.show(cfg, view, fmt, at=when, window=span, columns=columns)
    finally:
        view.close()


def plot(cfg: Settings, *, start: str | None, end: str | None, out: str | None, columns: list[str] | None = None,
         rows: str | None = None, local: bool = False):
    """`scr.py plot`: source entries against the target's step function, one PNG (scraper/look/plot.py);
    for a bridge or decimator section its stored points (scraper/look/plot_points.py)."""
    from scraper.look import plot as look_plot, points, records, window

    span = window.window(cfg, start, end, local)
    look_plot.check_out(cfg, out)
    if points.handles(cfg.mode):
        from scraper.look import plot_points

        seen = points.view(cfg)
        try:
            return plot_points.plot(cfg, seen, span, out, columns, rows)
        finally:
            seen.close()
    view = records.view(cfg)
    try:
        return look_plot.plot(cfg, view, span, out, columns, rows)
    finally:
        view.close()


def report(cfg_path: str | None, section: str, overrides: dict[str, Any] | None, *, start: str | None,
           end: str | None, thresholds: str | None = None, maxages: str | None = None,
           intervals: str | None = None, local: bool = False, out: str | None = None, fmt: str = "table"):
    """`scr.py report`: every threshold x maxage x interval replayed over [start, end] in memory, no
    writes (scraper/look/report.py); with `out`, records against fidelity as a PNG too."""
    from itertools import product

    from scraper.look import report as look_report, window

    overrides = dict(overrides or {})
    cfg = settings(cfg_path, section, overrides)
    span = window.window(cfg, start, end, local)
    if fmt not in ("table", "csv", "json"):
        raise cfg.error("--format", f'"{fmt}" is not a format (use table, csv, json)')
    if out:
        from scraper.look import plot as look_plot

        look_plot.check_out(cfg, out)

    def values(text: str | None) -> list[str | None]:  # None: the configured value
        return [v.strip() for v in (text or "").split(",") if v.strip()] or [None]

    grid = product(values(thresholds), values(maxages), values(intervals))
    variants = [settings(cfg_path, section, {**overrides, **{k: v for k, v in
                         zip(("threshold", "maxage", "interval"), combo) if v is not None}}) for combo in grid]
    result = look_report.report(cfg, span, variants)
    result.fmt = fmt
    if out:
        from scraper.look import plot as look_plot

        units = {load_regime(cfg).unit(c) for c in result.columns}  # one unit for every column, or none shown
        result.picture = look_plot.report_figure(cfg, result, out, units.pop() if len(units) == 1 else "")
    return result
