"""`scr.py show` for a bridge, decimator or logger section: stored rows as text, CSV or JSON.

The times are UTC (a bridge stores UTC unix seconds, shown both as stored and as a UTC time); with
--local the source's wall-clock time too, in a LOCAL column. A decimator's rows say which part of the
table they lie in (`thinned`, `full`, `pending`: thinned.py), and the title says where the parts are.
"""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scraper.config import Settings
from scraper.core.timezones import Clock

from .points import SERIES, Point, PointView, check_at, check_between
from .show import FORMATS, cell, iso
from .window import Window


@dataclass
class ShownPoints:
    section: str
    kind: str
    name: str
    columns: list[str]
    points: list[Point]
    fmt: str
    notes: list[str]
    tz: str | None = None  # --local: the source's zone
    at: datetime | None = None
    window: Window | None = None
    group: str | None = None

    @property
    def bridge(self) -> bool:
        return self.kind in SERIES

    def text(self) -> str:
        if self.fmt == "json":
            return json.dumps(self._json(), indent=1)
        rows = [self._head()] + [self._row(p) for p in self.points]
        if self.fmt == "csv":
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(rows)
            return out.getvalue().rstrip("\n")
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        table = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join([self._title(), *self.notes, *table])

    def _title(self) -> str:
        where = f"[{self.section}] {self.kind} {self.name}"
        zone = f" (LOCAL: {self.tz})" if self.tz else ""
        if self.at is not None:
            each = " per table" if self.bridge else (f" per {self.group}" if self.group else "")
            what = "rows" if self.bridge else "entry"
            return f"{where}: {what} at or last before {self.at:%Y-%m-%d %H:%M:%S} UTC{each}{zone}"
        span = f"{iso(self.window.start)} .. {iso(self.window.end)} UTC"
        if self.bridge:
            return f"{where}: {len(self.points)} rows {span}{zone}"
        parts = Counter(p.part for p in self.points)
        tally = ", ".join(f"{parts[k]} {k}" for k in ("thinned", "pending", "full") if parts[k])
        return f"{where}: {len(self.points)} entries {span} ({tally}){zone}"

    def _head(self) -> list[str]:
        head = ["TABLE", "time", "UTC"] if self.bridge else ["UTC"]
        head += ["LOCAL"] if self.tz else []
        return head + self.columns + ([] if self.bridge else ["part"])

    def _row(self, p: Point) -> list[str]:
        row = [p.table, unix_text(p.unix), iso(p.time)] if self.bridge else [iso(p.time)]
        row += [iso(Clock(self.tz).to_local(p.time))] if self.tz else []
        return row + [cell(p.values.get(c)) for c in self.columns] + ([] if self.bridge else [p.part])

    def _json(self) -> dict[str, Any]:
        clock = Clock(self.tz) if self.tz else None
        rows = []
        for p in self.points:
            row: dict[str, Any] = {"table": p.table} if self.bridge else {}
            row.update({"time": p.unix} if self.bridge else {})
            row["utc"] = iso(p.time)
            if clock:
                row["local"] = iso(clock.to_local(p.time))
            row["values"] = {c: p.values.get(c) for c in self.columns}
            if not self.bridge:
                row["part"] = p.part
            rows.append(row)
        when = {"at": iso(self.at)} if self.at else {"from": iso(self.window.start), "to": iso(self.window.end)}
        return {"section": self.section, "mode": self.kind, "name": self.name, **when,
                **({} if self.bridge else {"notes": self.notes}), "rows": rows}


def unix_text(t: float | None) -> str:
    """A bridged `time` as stored: whole seconds as an integer, a fraction in full (never 1.29654e+09)."""
    if t is None:
        return ""
    return str(int(t)) if float(t).is_integer() else f"{t:.6f}".rstrip("0")


def show(cfg: Settings, view: PointView, fmt: str, at: datetime | None = None, window: Window | None = None,
         columns: list[str] | None = None, local: bool = False) -> ShownPoints:
    """The rows at or last before `at` (per table; per group for a decimator), or those inside `window`."""
    if fmt not in FORMATS:
        raise cfg.error("--format", f'"{fmt}" is not a format (use {", ".join(FORMATS)})')
    known = view.layout.columns
    unknown = [c for c in columns or () if c not in known]
    if unknown:
        raise cfg.error("--columns", f"{', '.join(unknown)} not among the columns of {view.name} ({', '.join(known)})")
    found = check_at(cfg, view, at) if at is not None else check_between(cfg, view, window.start, window.end)
    return ShownPoints(cfg.section, view.kind, view.name, columns or known, found, fmt, view.layout.notes,
                       cfg.source_tz if local else None, at, window, view.layout.group)
