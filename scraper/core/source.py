"""What a regime declares about one source table: a plain record, so the pure logic of core/ can
name it without depending on the regime API above it (scraper.api re-exports it)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """One source table, or a table joined with others on `on` (DCS writes them in lockstep).

    `sitemask`/`subsite` form the DBI context: each Source has its own chain of validity records in
    the target, so two detectors read from two tables never overwrite each other's bookmark.

    `time` names the timestamp column (DCS tables call it `date_time`; a 10 Hz monitor's own table may
    call it `timestamp`) and `group` the column that tells interleaved series apart (one row per
    instrument and reading); the decimator (mode `decimator`) keeps one entry per slice and group.
    """

    table: str
    joins: tuple[str, ...] = ()
    on: str = "id"
    sitemask: int = 1
    subsite: int = 0
    simmask: int = 1
    time: str = "date_time"
    group: str | None = None

    @property
    def label(self) -> str:
        return "+".join((self.table, *self.joins))
