"""A test kit for regime authors: the engine's promises, checked on YOUR regime and YOUR rows.

Call it from your own pytest (see docs/writing-a-regime.md; `scr.py new-regime NAME` writes one):

    from scraper.testing import RegimeChecks

    class TestGasPressure(RegimeChecks):
        regime = GasPressure
        keys = {"interval": "10s", "maxage": "10m", "threshold": 0.5}

        def rows(self):            # source rows per table, as the DCS writes them
            return {"DBNS_Gas_Pressure": [...]}

Each check runs the real engine on a SQLite source built from the regime's fake source schema
(`Faker.tables`) in pytest's `tmp_path`:
- `test_change_rule_in_sql_agrees_with_python`: a catch-up where the database skips entries the rule
  calls unchanged writes exactly what judging every entry in Python writes;
- `test_restart_at_random_points_gives_the_same_target`: stopping at `restarts` random points across
  the data (each after a propagation and part of the gap to the next, so every run advances however far
  apart the regime's propagations are) and restarting ends in the target of one uninterrupted run;
- `test_propagate_yields_exactly_the_target_columns`: every payload row has the Target's columns.
A check that fails names the first record that differs, both sides shown.

Stream regimes (mode stream) have `StreamRegimeChecks`: set `regime` and `messages()` (decoded
messages); a replay adds nothing, a restart gives the same rows, rows fit the tables (no broker needed).
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, ClassVar, Mapping

import sqlalchemy as sa

from scraper import commands
from scraper.api import Regime
from scraper.core.sourcevector import SourceVector
from scraper.restarts import RestartPlan, first_difference
from scraper.sources.sql.reader import SourceReader


def _write_cfg(path: Path, regime: type[Regime], keys: Mapping[str, Any], kls: str) -> Path:
    body = {"regime": f"{regime.__module__}:{regime.__name__}", "source": "sqlite:///source.db",
            "target": "sqlite:///target.db", "kls": kls, "timefloor": "1970-01-02 00:00:00", **keys}
    cfg = path / "scraper.cfg"
    cfg.write_text("[check]\n" + "".join(f"{k} = {v}\n" for k, v in body.items()))
    return cfg


def load_source(path: Path, regime: type[Regime], rows: Mapping[str, list[dict]]) -> sa.Engine:
    """A SQLite source at `path`/source.db holding `rows` in the regime's fake source tables."""
    engine = sa.create_engine(f"sqlite:///{path / 'source.db'}")
    tables = {t.name: t for t in regime.faker.tables}
    with engine.begin() as conn:
        for name, table_rows in rows.items():
            if name not in tables:
                raise ValueError(f"{regime.__name__}.faker.tables has no table {name!r} (has {', '.join(tables)})")
            tables[name].create(conn, checkfirst=True)
            if table_rows:
                conn.execute(tables[name].insert(), list(table_rows))
    engine.dispose()
    return engine


def scrape(path: Path, regime: type[Regime], keys: Mapping[str, Any], kls: str, **flags: Any):
    """One in-process run of the section the kit writes; `flags` are RunOptions (catchup, ...)."""
    cfg = commands.settings(str(_write_cfg(path, regime, keys, kls)), "check")
    flags.setdefault("allow_create", True)
    return commands.run(cfg, **flags)


def target(path: Path, kls: str) -> list[tuple]:
    """Validity records with their payload rows, without SEQNO and INSERTDATE, in time order."""
    engine = sa.create_engine(f"sqlite:///{path / 'target.db'}")
    md = sa.MetaData()
    vld = sa.Table(f"{kls}Vld", md, autoload_with=engine)
    payload = sa.Table(kls, md, autoload_with=engine)
    values = [c for c in payload.c if c.name != "SEQNO"]
    with engine.connect() as conn:
        records = conn.execute(sa.select(vld).order_by(vld.c.SUBSITE, vld.c.TIMESTART, vld.c.SEQNO)).mappings().all()
        rows = conn.execute(sa.select(payload).order_by(payload.c.SEQNO, payload.c.ROW_COUNTER)).mappings().all()
    engine.dispose()
    by_seqno: dict[int, list[tuple]] = {}
    for r in rows:
        by_seqno.setdefault(r["SEQNO"], []).append(tuple(r[c.name] for c in values))
    head = ("TIMESTART", "TIMEEND", "SITEMASK", "SUBSITE", "TASK", "AGGREGATENO")
    return [tuple(v[k] for k in head) + (tuple(by_seqno.get(v["SEQNO"], [])),) for v in records]


class RegimeChecks:
    """Subclass in your tests: set `regime`, `keys` (section keys) and define `rows()`."""

    regime: ClassVar[type[Regime]]
    keys: ClassVar[dict[str, Any]] = {}
    seed: ClassVar[int] = 2026
    restarts: ClassVar[int] = 12  # stops of the restart check: each is one more run over part of the data

    def rows(self) -> Mapping[str, list[dict]]:
        raise NotImplementedError("return {table name: [row dicts]} for the regime's source tables")

    def _source(self, tmp_path: Path) -> Path:
        load_source(tmp_path, self.regime, self.rows())
        return tmp_path

    def test_change_rule_in_sql_agrees_with_python(self, tmp_path):
        path = self._source(tmp_path)
        scrape(path, self.regime, {**self.keys, "skip_in_database": True}, "KitSql", catchup=True)
        scrape(path, self.regime, {**self.keys, "skip_in_database": False}, "KitPython", catchup=True)
        python = target(path, "KitPython")
        assert python, "the rows give no propagation at all: give the check rows that change"
        differs = first_difference(python, target(path, "KitSql"), "Python-judged run", "SQL-judged run")
        assert differs is None, differs

    def test_restart_at_random_points_gives_the_same_target(self, tmp_path):
        path = self._source(tmp_path)
        scrape(path, self.regime, self.keys, "KitWhole", catchup=True)
        whole = target(path, "KitWhole")
        assert len(whole) > 1, "the rows give too few propagations to stop between: give the check more rows"
        rng = random.Random(self.seed)
        plan = RestartPlan(whole, self.rows(), str(self.keys.get("source_tz", "UTC")))
        budgets = []
        for stop in plan.stops(rng, self.restarts):
            done = target(path, "KitRestarted") if budgets else []
            budget = plan.budget(stop, done, rng)
            if budget:
                budgets.append(budget)
                scrape(path, self.regime, {**self.keys, "maxiter": budget}, "KitRestarted", catchup=True)
        scrape(path, self.regime, self.keys, "KitRestarted", catchup=True)
        differs = first_difference(whole, target(path, "KitRestarted"), "whole run", "restarted run")
        assert differs is None, f"{differs}\n  (runs stopped after {budgets} samples, then one to the end)"

    def test_propagate_yields_exactly_the_target_columns(self, tmp_path):
        path = self._source(tmp_path)
        cfg = commands.settings(str(_write_cfg(path, self.regime, self.keys, "KitColumns")), "check")
        scraper = self.regime.scraper(cfg, self.regime.target)
        if scraper.aggregates:
            return  # payload rows come from sv[-1].aggd, computed by the database: the other checks write them
        wanted = set(self.regime.target.columns)
        engine = sa.create_engine(f"sqlite:///{path / 'source.db'}")
        try:
            for source in self.regime.sources:
                reader = SourceReader(engine, source, cfg, 2)
                first = reader.next_entry(cfg.timefloor, None, 0)
                last = first and reader.next_entry(first.t, first.key, 0)
                if last is None:
                    continue
                sv = SourceVector(source, first.t, first)
                sv.sample(last, lambda _sv: True, cfg.maxage)
                for row in scraper.propagate(sv):
                    assert set(row) == wanted, f"propagate() keys {sorted(row)} != target columns {sorted(wanted)}"
        finally:
            engine.dispose()


from scraper.modes.stream.kit import StreamRegimeChecks  # noqa: E402,F401 - the same kit, for stream regimes
