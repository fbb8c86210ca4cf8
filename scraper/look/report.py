"""`scr.py report`: what other threshold/maxage/interval settings would have written over a range.

Each combination replays the section's own rules over the range's source entries in memory, without
writing: the regime's changed() and propagate() and the engine's SourceVector (scraper/core/
sourcevector.py) take every decision, exactly as in a run; only the choice of the next entry (rule 1 of a sample, docs/concepts.md:
the first at or after the cursor beyond every entry collected, skipping `offset`) is made on the
in-memory list instead of by a query. So the row of the configured settings is the validity chain a
fresh scrape from --from writes up to --to, record for record (tests/integration/test_look.py checks
it against real runs). The entries are read once (entries.py), whatever the number of combinations.

Fidelity: every source entry in the range is compared with the value the replayed target holds at
its time (the record with TIMESTART <= t < TIMEEND; the last record also at its TIMEEND; entries after
the last record are not held yet and not counted), in the target's columns: max and RMS deviation.
"""
from __future__ import annotations

import bisect
import csv
import io
import json
import math
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from scraper.api import Regime
from scraper.config import Settings
from scraper.config.plugins import load_regime
from scraper.core.sourcevector import SourceVector
from scraper.core.timezones import Clock
from scraper.core.units import format_duration
from scraper.look import entries as source_entries
from scraper.look.entries import Entries
from scraper.look.window import Window
from scraper.runtime.blame import regime_failure


@dataclass
class Replayed:
    """The validity chain one combination writes for one source: times in UTC, payload per record."""

    starts: list[datetime] = field(default_factory=list)
    ends: list[datetime] = field(default_factory=list)
    payloads: list[list[dict]] = field(default_factory=list)


@dataclass
class Row:
    threshold: float
    maxage: timedelta
    interval: timedelta
    records: int
    per_day: float
    deviation: dict[str, tuple[float, float]]  # column -> (max, rms); empty when not computed
    configured: bool = False

    def label(self) -> str:
        return f"{self.threshold:g} / {format_duration(self.maxage)} / {format_duration(self.interval)}"


@dataclass
class Report:
    section: str
    window: Window
    entries: int
    rows: list[Row]
    columns: list[str]  # columns shown: those with a deviation in some combination
    quiet: list[str]  # numeric target columns that never deviate (e.g. channel numbers)
    note: str = ""
    picture: Path | None = None  # the records-vs-fidelity PNG, when one was asked for
    fmt: str = "table"

    def text(self) -> str:
        if self.fmt == "json":
            return json.dumps({"section": self.section, "from": f"{self.window.start:%Y-%m-%d %H:%M:%S}",
                               "to": f"{self.window.end:%Y-%m-%d %H:%M:%S}", "entries": self.entries,
                               "rows": self.as_dicts()}, indent=1)
        if self.fmt == "csv":
            out = io.StringIO()
            rows = self.as_dicts()
            writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            return out.getvalue().rstrip("\n")
        head = ["threshold", "maxage", "interval", "records", "per day"] + [f"{c} max/rms" for c in self.columns]
        body = []
        for r in self.rows:
            cells = [f"{r.threshold:g}", format_duration(r.maxage), format_duration(r.interval),
                     str(r.records), f"{r.per_day:.1f}"]
            cells += [_pair(r.deviation.get(c)) for c in self.columns]
            body.append([("*" if r.configured else " ") + cells[0]] + cells[1:])
        head[0] = " " + head[0]
        widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
        lines = [f"[{self.section}] {self.entries} source entries {self.window.start:%Y-%m-%d %H:%M:%S} .. "
                 f"{self.window.end:%Y-%m-%d %H:%M:%S} UTC ({self.window.days:.3g} day{'' if self.window.days == 1 else 's'}), "
                 f"{len(self.rows)} combinations replayed; * = configured"]
        lines += ["  ".join(v.rjust(w) if i >= 3 else v.ljust(w) for i, (v, w) in enumerate(zip(line, widths))).rstrip()
                  for line in [head, *body]]
        if self.quiet:
            lines.append(f"no deviation in any combination: {', '.join(self.quiet)}")
        if self.note:
            lines.append(self.note)
        if self.picture:
            lines.append(f"[{self.section}] wrote {self.picture}")
        return "\n".join(lines)

    def as_dicts(self) -> list[dict]:
        return [{"threshold": r.threshold, "maxage": format_duration(r.maxage), "interval": format_duration(r.interval),
                 "records": r.records, "records_per_day": round(r.per_day, 3), "configured": r.configured,
                 **{f"{c}_max": _num(r.deviation.get(c, (None, None))[0]) for c in self.columns},
                 **{f"{c}_rms": _num(r.deviation.get(c, (None, None))[1]) for c in self.columns}}
                for r in self.rows]


def _pair(dev: tuple[float, float] | None) -> str:
    if dev is None or math.isnan(dev[0]):
        return "-"
    return f"{dev[0]:.3g}/{dev[1]:.3g}"


def _num(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(f"{value:.6g}")


def replay(cfg: Settings, regime: type[Regime], ents: Entries, floor: datetime, payload: bool = True) -> Replayed:
    """One combination (the settings `cfg`) over one source's entries: the engine's per-sample rules."""
    scraper = regime.scraper(cfg, regime.target)
    clock = Clock(cfg.source_tz)
    items, out = ents.entries, Replayed()
    times = [e.t for e in items]
    offset, maxage, interval, changed = cfg.offset, cfg.maxage, cfg.interval, scraper.changed
    sv = SourceVector(ents.source, max(floor, cfg.timefloor))
    last = -1  # index of sv[-1]: the next entry lies beyond it
    try:
        while True:
            i = max(bisect.bisect_left(times, sv.tcursor), last + 1) + offset
            if i >= len(items):
                return out
            last = i
            sv.sample(items[i], changed, maxage)
            if sv.proceed:
                out.starts.append(clock.to_utc(sv[0].t))
                out.ends.append(clock.to_utc(sv[-1].t))
                out.payloads.append(list(scraper.propagate(sv)) if payload else [])
                sv.advance(interval)
    except Exception as exc:  # the regime's own code failing: one line naming it and the entry, as a run
        failure = regime_failure(exc, regime, items[last] if last >= 0 else None, ents.source.label)
        if failure is None:
            raise
        raise failure from exc


class Fidelity:
    """Per column: max |held - entry| and the sums for the RMS, over every source of a combination."""

    def __init__(self, ncols: int):
        self.max = np.full(ncols, np.nan)
        self.squares = np.zeros(ncols)
        self.count = np.zeros(ncols)

    def add(self, held: np.ndarray, seen: np.ndarray) -> None:
        depth = max(held.shape[1], seen.shape[1])
        held, seen = _pad(held, depth), _pad(seen, depth)
        diff = np.abs(held - seen)
        if not diff.size:
            return
        with warnings.catch_warnings():  # a column that is None throughout has no maximum: NaN is right
            warnings.simplefilter("ignore", RuntimeWarning)
            top = np.nanmax(diff, axis=(0, 1))
        self.max = np.fmax(self.max, top)
        self.squares += np.nansum(diff ** 2, axis=(0, 1))
        self.count += np.sum(~np.isnan(diff), axis=(0, 1))

    def result(self, columns: list[str]) -> dict[str, tuple[float, float]]:
        with np.errstate(all="ignore"):
            rms = np.sqrt(self.squares / self.count)
        return {c: (float(self.max[k]), float(rms[k]) if self.count[k] else math.nan) for k, c in enumerate(columns)}


def _pad(a: np.ndarray, depth: int) -> np.ndarray:
    if a.shape[1] == depth:
        return a
    out = np.full((a.shape[0], depth, a.shape[2]), np.nan)
    out[:, :a.shape[1]] = a
    return out


def held_index(starts: list[datetime], ends: list[datetime], times: np.ndarray) -> np.ndarray:
    """For each time, the index of the record valid then, -1 where none is."""
    if not starts:
        return np.full(len(times), -1)
    s, e = np.array(starts, dtype="datetime64[us]"), np.array(ends, dtype="datetime64[us]")
    k = np.searchsorted(s, times, side="right") - 1
    ok = k >= 0
    kk = np.where(ok, k, 0)
    inside = ok & ((times < e[kk]) | ((kk == len(s) - 1) & (times == e[kk])))
    return np.where(inside, kk, -1)


def report(cfg: Settings, window: Window, variants: list[Settings]) -> Report:
    """Replay `variants` (and the configured settings `cfg`, marked) over the window's source entries."""
    if cfg.mode != "scraper":
        raise cfg.error("mode", f"report replays the threshold/maxage rules of mode scraper; mode {cfg.mode} "
                        "has none to vary")
    regime = load_regime(cfg)
    clock = Clock(cfg.source_tz)
    start, end = clock.to_local(window.start), clock.to_local(window.end)
    if window.start == window.end:
        raise cfg.error("--to", "equals --from: report needs a range to replay (e.g. a day)")
    data = source_entries.read(cfg, regime, start, end)
    if not any(d.entries for d in data):
        raise cfg.error("--from", f"no source entry between {window.start:%Y-%m-%d %H:%M:%S} and "
                        f"{window.end:%Y-%m-%d %H:%M:%S} UTC in {', '.join(d.source.label for d in data)}")
    columns = source_entries.numeric_columns(regime)
    fidelity = not cfg.aggregate  # an aggregate's payload is computed in SQL per range: no per-entry value
    seen = []
    if fidelity:
        base = regime.scraper(cfg, regime.target)
        seen = [(source_entries.array(source_entries.as_target(regime, base, ents), columns),
                 np.array(ents.utc, dtype="datetime64[us]")) for ents in data]
    key = (cfg.threshold, cfg.maxage, cfg.interval)
    combos = [v for v in variants if (v.threshold, v.maxage, v.interval) != key]
    rows = []
    for variant in [*combos, cfg]:
        records, fid = 0, Fidelity(len(columns))
        for k, ents in enumerate(data):
            chain = replay(variant, regime, ents, start, payload=fidelity)
            records += len(chain.starts)
            if fidelity:
                values, times = seen[k]
                held = source_entries.array(chain.payloads, columns)
                at = held_index(chain.starts, chain.ends, times)
                mask = at >= 0
                if held.size and mask.any():
                    fid.add(held[at[mask]], values[mask])
        rows.append(Row(variant.threshold, variant.maxage, variant.interval, records,
                        records / window.days if window.days else math.nan,
                        fid.result(columns) if fidelity else {}, configured=variant is cfg))
    rows.sort(key=lambda r: (r.interval, r.maxage, r.threshold))
    moving = [c for c in columns if any(r.deviation.get(c, (0, 0))[0] > 0 for r in rows)] if fidelity else []
    quiet = [c for c in columns if c not in moving] if fidelity else []
    note = "" if fidelity else (f"deviation not computed: the payload aggregates each range in SQL "
                                f"(aggregate = {','.join(cfg.aggregate)}), it holds no single entry's value")
    if fidelity and not moving:
        moving, quiet = columns, []
    return Report(cfg.section, window, sum(len(d.entries) for d in data), rows, moving, quiet, note)
