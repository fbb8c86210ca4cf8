"""`scr.py show`: the validity records (and payload rows) of a section's target, as text, CSV or JSON.

`--at T` answers the consumer's question "what was valid at T": per context the record with
TIMESTART <= T < TIMEEND and every payload row of it. `--from A --to B` lists the records overlapping
the range, one line each (the payload too when a record has one row; all rows in JSON).
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scraper.config import Settings
from scraper.look.records import Record, View
from scraper.look.window import Window

FORMATS = ("table", "csv", "json")
HEAD = ("SEQNO", "TIMESTART", "TIMEEND", "SITEMASK", "SUBSITE")


@dataclass
class Shown:
    """What show found; `text()` renders it in the chosen format."""

    section: str
    kls: str
    columns: list[str]
    records: list[Record]
    fmt: str
    at: datetime | None = None
    window: Window | None = None

    def text(self) -> str:
        if self.fmt == "json":
            return json.dumps(self._json(), indent=1)
        rows = self._rows()
        if self.fmt == "csv":
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerows(rows)
            return out.getvalue().rstrip("\n")
        title = (f"[{self.section}] {self.kls}: valid at {self.at:%Y-%m-%d %H:%M:%S} UTC" if self.at else
                 f"[{self.section}] {self.kls}: {len(self.records)} records overlapping "
                 f"{self.window.start:%Y-%m-%d %H:%M:%S} .. {self.window.end:%Y-%m-%d %H:%M:%S} UTC")
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join([title] + ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows])

    def _rows(self) -> list[list[str]]:
        if self.at is not None:  # every payload row of the records valid then
            out = [[*HEAD, "ROW", *self.columns]]
            for rec in self.records:
                for n, row in enumerate(rec.rows, 1):
                    out.append([*_head(rec), str(n), *(cell(row.get(c)) for c in self.columns)])
            return out
        out = [[*HEAD, "ROWS", *self.columns]]
        for rec in self.records:
            one = rec.rows[0] if len(rec.rows) == 1 else None
            out.append([*_head(rec), str(len(rec.rows)), *(cell(one.get(c)) if one else "" for c in self.columns)])
        return out

    def _json(self) -> dict[str, Any]:
        return {"section": self.section, "kls": self.kls,
                **({"at": iso(self.at)} if self.at else
                   {"from": iso(self.window.start), "to": iso(self.window.end)}),
                "records": [{"SEQNO": r.seqno, "TIMESTART": iso(r.timestart), "TIMEEND": iso(r.timeend),
                             "SITEMASK": r.context.sitemask, "SUBSITE": r.context.subsite,
                             "SIMMASK": r.context.simmask, "TASK": r.context.task, "rows": r.rows}
                            for r in self.records]}


def iso(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}" + (f".{t.microsecond:06d}" if t.microsecond else "")


def _head(rec: Record) -> list[str]:
    return [str(rec.seqno), iso(rec.timestart), iso(rec.timeend), str(rec.context.sitemask), str(rec.context.subsite)]


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def show(cfg: Settings, view: View, fmt: str, at: datetime | None = None, window: Window | None = None,
         columns: list[str] | None = None) -> Shown:
    """Records valid at `at`, or overlapping `window`; a time the target does not cover is an error.
    `columns` narrows the payload shown (an aggregate table has dozens)."""
    if fmt not in FORMATS:
        raise cfg.error("--format", f'"{fmt}" is not a format (use {", ".join(FORMATS)})')
    unknown = [c for c in columns or () if c not in view.columns]
    if unknown:
        raise cfg.error("--columns", f"{', '.join(unknown)} not among the columns of {view.kls} "
                        f"({', '.join(view.columns)})")
    covered = view.covered()
    span = (f"the target covers {covered[0]:%Y-%m-%d %H:%M:%S} .. {covered[1]:%Y-%m-%d %H:%M:%S} UTC"
            if covered else f"the target has no validity record in {view.kls}Vld yet")
    if at is not None:
        records = view.at(at)
        if not records:
            gap = " (it falls between two records)" if covered and covered[0] <= at <= covered[1] else ""
            raise cfg.error("--at", f"no validity record at {at:%Y-%m-%d %H:%M:%S} UTC{gap}: {span}")
    else:
        records = view.between(window.start, window.end)
        if not records:
            raise cfg.error("--from", f"no validity record overlaps {window.start:%Y-%m-%d %H:%M:%S} .. "
                            f"{window.end:%Y-%m-%d %H:%M:%S} UTC: {span}")
    if columns:
        for rec in records:
            rec.rows = [{c: row.get(c) for c in columns} for row in rec.rows]
    return Shown(cfg.section, view.kls, columns or view.columns, records, fmt, at, window)
