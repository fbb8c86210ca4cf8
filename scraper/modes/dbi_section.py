"""What the two DBI-writing modes (scraper, averager) open before their first round.

A section that writes validity records needs: its regime, the source and target connections, a
prepared DBI writer (tables created only with --ALLOW_DROP_CREATE_TABLE, dropped only with
--DROP_TARGET_TABLES and never on a production target), one reader per Source and the regime's
scraper object. Both modes build it here, once, and then differ only in how they sample.
"""
from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Collection

from sqlalchemy.engine import Engine

from scraper import db
from scraper.api import Regime, Source
from scraper.config import Settings
from scraper.config.plugins import load_regime
from scraper.core.timezones import Clock
from scraper.runtime.runner import Runner
from scraper.sources.sql.reader import SourceReader
from scraper.targets.dbi import Context, DbiTables, DbiWriter

log = logging.getLogger("scraper.engine")


def is_production(cfg: Settings) -> bool:
    names = {cfg.target, db.database_name(cfg, "target")}
    return any(fnmatch.fnmatch(n, pattern) for n in names for pattern in cfg.production_names)


@dataclass
class DbiSection:
    cfg: Settings
    regime: type[Regime]
    clock: Clock
    source_engine: Engine
    target_engine: Engine
    writer: DbiWriter
    scraper: Any
    readers: list[SourceReader]
    lease: Any = None  # runtime/lease.Lease (None with --dry-run): closed with the section, even unrun

    @classmethod
    def open(cls, cfg: Settings, runner: Runner) -> "DbiSection":
        """Every start-up step runs through the runner: an outage (the database is not up yet, the
        target is read-only) is waited out, a mistake is one line. The sources are checked before the
        target is touched, so a mistake about a source leaves no table created in the target."""
        regime = load_regime(cfg)
        cfg.require("target")
        options = runner.options
        # a target mistake found without touching anything; a new file is a new target, made on request
        db.locate(cfg, "target", options.allow_create, missing="a new target? add --ALLOW_DROP_CREATE_TABLE to create it")
        source = db.connect(cfg, "source", retry=runner.startup, readonly=True)
        readers = [runner.startup("source", SourceReader, source, src, cfg, cfg.get("batch", 1000))
                   for src in regime.sources]
        check_columns(cfg, regime, readers)  # before the target is touched, like every source mistake
        target = db.connect(cfg, "target", writer=True, create=options.allow_create, retry=runner.startup)
        runner.hold(target)  # a second copy of the section waits here as a standby
        try:
            declared = regime.target
            writer = DbiWriter(target, DbiTables(cfg.kls or declared.kls, declared.columns))
            runner.startup("target", prepare_target, cfg, writer, target, options.allow_create, options.drop)
            for reader in readers:
                reader.guard = runner.guard("source")
            runner.record_metrics_in(target)
            return cls(cfg, regime, Clock(cfg.source_tz), source, target, writer,
                       regime.scraper(cfg, declared), readers, runner.lease)
        except BaseException:
            runner.release()  # a start-up that fails lets the section go at once, renewal thread and all
            raise

    def context(self, src: Source) -> Context:
        return Context(src.sitemask, src.subsite, src.simmask, self.cfg.task)

    def written(self, ctx: Context, start: datetime, end: datetime, besides: Collection[int] = ()) -> bool:
        """After a lost connection: did the COMMIT of [start, end] reach the target before it died?
        `besides`: SEQNOs of records that may span [start, end] already (the early records the write
        supersedes, early_bins.py), which are not it."""
        last = self.writer.last_validity(ctx)
        return last is not None and (last.timestart, last.timeend) == (start, end) and last.seqno not in besides

    def repair_ahead(self, src: Source, ctx: Context, ceiling_utc: datetime) -> None:
        """Records ending ahead of the wall clock, left by a version that read an entry dated in the
        future, are closed at their start (targets/dbi.py close_ahead: nothing deleted), each said
        once; the resume then starts after the newest record that is data now."""
        for rec in self.writer.close_ahead(ctx, ceiling_utc):
            log.warning("%s %s: validity record SEQNO %d [%s, %s] UTC ends ahead of the clock (an entry dated in "
                        "the future was read by an older version): it now ends at its start, its payload kept, "
                        "and the section resumes from the newest record that is data now", src.label, ctx,
                        rec.seqno, rec.timestart, rec.timeend)

    def wrong(self) -> int:
        """Values of the wrong kind read (db/kinds.py) or written (a target column's range) as NULL."""
        return sum(r.kinds.total for r in self.readers) + sum(self.writer.fit.counts.values())

    def close(self) -> None:
        if self.lease is not None:
            self.lease.close()  # its renewal thread must not outlive the section (a library user's process)
        for reader in self.readers:
            reader.close()
        self.source_engine.dispose()
        self.target_engine.dispose()


def check_columns(cfg: Settings, regime: type[Regime], readers: list[SourceReader]) -> None:
    """Every column the regime declares for a source table (its faker's schema) and every column its
    change rule reads must be there: a column dropped or renamed by hand is one line at start-up, not a
    KeyError in the regime's code on the first entry (mid-run, the database's own error is: retry.py)."""
    declared = {t.name: [c.name for c in t.c] for t in getattr(regime.faker, "tables", ()) or ()}
    change = getattr(regime.scraper, "change", None)
    ruled = list(change.columns()) if change is not None else []
    for reader in readers:
        have = set(reader.columns)
        wanted = [c for c in declared.get(reader.main.name, []) if c not in ("id", "date_time")]
        for name in dict.fromkeys(wanted + [c for c in ruled if c in wanted or not wanted]):
            if name not in have:
                raise cfg.error("source", f'table "{reader.main.name}" has no column "{name}", which {cfg.regime} '
                                          "reads (dropped or renamed?)")


def prepare_target(cfg: Settings, writer: DbiWriter, target: Engine, allow_create: bool, drop: bool) -> None:
    if drop:
        if not allow_create:
            raise cfg.error("target", "--DROP_TARGET_TABLES needs --ALLOW_DROP_CREATE_TABLE as well")
        if is_production(cfg):
            raise cfg.error("target", f'"{cfg.target}" is a production target (production_names): refusing to drop')
        present = [name for name in writer.t.names if name not in writer.missing()]
        if present:  # on a fresh target there is nothing to drop: say nothing rather than alarm
            log.warning("dropping target tables %s", ", ".join(present))
        writer.drop()
    missing = writer.missing()
    if missing:
        if not allow_create:
            raise cfg.error("target", f"table(s) {', '.join(missing)} missing in "
                            f"{db.show(target.url)} (create with --ALLOW_DROP_CREATE_TABLE)")
        writer.create()
    gone = writer.missing_columns()
    if gone:
        raise cfg.error("kls", f"target table {writer.t.kls} lacks column(s) {', '.join(gone)} "
                        "declared by the regime")
    writer.prepare()
    if cfg.get("time_view", False):
        from scraper.targets.timeview import create_time_view

        create_time_view(target, writer.t)


def check_aggregates(cfg: Settings, regime: type[Regime]) -> None:
    """The aggregates propagate() reads must be configured: else it would write NULLs or fail mid-run."""
    wanted = tuple(regime.scraper.aggregates)
    missing = [fn for fn in wanted if fn not in cfg.aggregate]
    if missing:
        have = ",".join(cfg.aggregate) or "none"
        raise cfg.error("aggregate", f"{cfg.regime} reads {','.join(wanted)} from sv[-1].aggd but aggregate "
                        f"= {have} (missing {','.join(missing)}): set aggregate = {','.join(wanted)}")
