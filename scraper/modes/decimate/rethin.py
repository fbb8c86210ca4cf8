"""Thinning slices again, in Python: slices that received late entries, or that were thinned before
(a cursor set back by hand or repaired, a dropped cursor table).

Such a slice holds few rows (its keeper plus the late ones), so they are read whole, the same keep
rule is applied to them, and with a rollup the entries its row has not counted yet are merged into it
(the row remembers the id it kept, which is the one entry already counted): a slice thinned twice
keeps its keeper and never gets a second rollup row. All in one transaction, with the cursor when one
is given, so a retry after a COMMIT whose acknowledgement was lost changes nothing.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from scraper.core.bins import Chunk
from scraper.db.kinds import spell
from scraper.targets.dbi import utcnow

from .slices import Slicing
from .statements import SLICE, Statements
from .tables import Cursor, TableSpec, read_cursor, write_cursor


class Rethinner:
    """Re-thins whole slices of one table (and merges its rollup) in one transaction each call."""

    def __init__(self, writer: Engine, spec: TableSpec, slicing: Slicing, keep_rule: str,
                 rollup: sa.Table | None, st: Statements, cursors: sa.Table):
        self.writer, self.spec, self.slicing, self.keep_rule = writer, spec, slicing, keep_rule
        self.rollup, self.st, self.cursors = rollup, st, cursors

    def slices(self, chunk: Chunk, cursor: Cursor | None = None) -> tuple[dict[Any, int], int]:
        """Thin the chunk's slices again: same rule, the late entries merged into the rollup exactly
        once; `cursor` written in the same transaction when given. Returns the entries deleted per
        group and the rollup rows written, to be counted by the caller now that they are committed."""
        with self.writer.begin() as conn:
            if cursor is not None:
                done = read_cursor(conn, self.cursors, self.spec.name)
                if done is not None and done.until >= chunk.end:
                    return {}, 0  # a retry after a COMMIT whose acknowledgement was lost
                write_cursor(conn, self.cursors, self.spec.name, cursor, utcnow())
            rows = conn.execute(self.st.rows(chunk)).mappings().all()
            by_key: dict = defaultdict(list)
            for r in rows:
                by_key[(r[SLICE], r.get("g"))].append(r)
            existing = self._existing_rollup(conn, chunk) if self.rollup is not None else {}
            doomed, deleted, merged = [], defaultdict(int), []
            for key, group_rows in by_key.items():
                group_rows.sort(key=lambda r: (r["t"], r["id"]), reverse=self.keep_rule == "last")
                keeper = group_rows[0]
                doomed += [r["id"] for r in group_rows[1:]]
                deleted[key[1]] += len(group_rows) - 1
                if self.rollup is not None:
                    merged.append(self._merge(key, group_rows, keeper["id"], existing.get(key)))
            for i in range(0, len(doomed), 500):
                conn.execute(self.st.delete_ids(doomed[i:i + 500]))
            if self.rollup is not None and merged:
                self._replace_rollup(conn, merged)
        return dict(deleted), len(merged)

    def _existing_rollup(self, conn: Connection, chunk: Chunk) -> dict:
        r = self.rollup
        rows = conn.execute(sa.select(r).where(r.c.slice_utc >= chunk.start, r.c.slice_utc < chunk.end)).mappings()
        group = self.spec.group.name if self.spec.group is not None else None
        return {(self.slicing.index(row["slice_utc"]), row[group] if group else None): dict(row) for row in rows}

    def _merge(self, key, rows, kept_id: int, old: dict | None) -> dict:
        """The slice's rollup row with the entries it has not counted yet (all but the one it kept)."""
        new = [r for r in rows if old is None or r["id"] != old["kept_id"]]
        n_old = old["count"] if old else 0
        out = {"slice_utc": self.slicing.start(key[0]), "kept_id": kept_id, "count": n_old + len(new)}
        if self.spec.group is not None:
            out[self.spec.group.name] = key[1]
        for c in self.spec.numeric:
            values = [float(r[c.name]) for r in new if spell(r[c.name]) is None and r[c.name] is not None]
            had = old is not None and old[f"{c.name}_avg"] is not None
            mins = values + ([old[f"{c.name}_min"]] if had else [])
            maxs = values + ([old[f"{c.name}_max"]] if had else [])
            n = len(values) + (n_old if had else 0)
            total = sum(values) + (old[f"{c.name}_avg"] * n_old if had else 0.0)
            out[f"{c.name}_avg"] = total / n if n else None
            out[f"{c.name}_min"] = min(mins) if mins else None
            out[f"{c.name}_max"] = max(maxs) if maxs else None
        return out

    def _replace_rollup(self, conn: Connection, merged: list[dict]) -> None:
        r = self.rollup
        group = self.spec.group.name if self.spec.group is not None else None
        for row in merged:
            where = [r.c.slice_utc == row["slice_utc"]]
            if group:
                where.append(r.c[group].is_(None) if row[group] is None else r.c[group] == row[group])
            conn.execute(r.delete().where(*where))
        conn.execute(r.insert(), merged)
