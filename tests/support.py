"""Helpers shared by tests: writing a scraper.cfg, running sections in-process, reading a target back."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from scraper import commands, modes
from scraper.config import Settings



class Databases:
    """A fresh source and target database of one backend, plus a config file pointing at them."""

    def __init__(self, backend: str, tmp_path: Path, source_url: str, target_url: str):
        self.backend, self.tmp_path = backend, tmp_path
        self.source_url, self.target_url = source_url, target_url
        self._engines: list[sa.Engine] = []

    def engine(self, which: str) -> sa.Engine:
        eng = sa.create_engine(self.source_url if which == "source" else self.target_url)
        self._engines.append(eng)
        return eng

    def write_cfg(self, sections: dict[str, dict[str, Any]], name: str = "scraper.cfg") -> Path:
        path = self.tmp_path / name
        lines = []
        for section, keys in sections.items():
            lines.append(f"[{section}]")
            where = {"source": self.source_url}
            if keys.get("mode") not in ("faker", "decimator"):  # they write their source; `target` is no key of theirs
                where["target"] = self.target_url
            keys = {**where, **keys}
            if self.backend == "postgresql" and keys.get("aggregate_filter"):
                keys["aggregate_filter"] = "'" + pg_quoted(str(keys["aggregate_filter"])) + "'"  # configobj quoting
            lines += [f"{k} = {v}" for k, v in keys.items()]
            lines.append("")
        path.write_text("\n".join(lines))
        return path

    def settings(self, overrides: dict[str, Any] | None = None, section: str = "test", **keys: Any) -> Settings:
        path = self.write_cfg({section: keys})
        return commands.settings(str(path), section, overrides)

    def close(self) -> None:
        for eng in self._engines:
            eng.dispose()


def for_mode(mode: str, keys: dict[str, Any]) -> dict[str, Any]:
    """The keys of `keys` that a section of `mode` may set (a regime's test keys serve several modes)."""
    known = modes.mode(mode).keys
    return {k: v for k, v in keys.items() if k in known}


def pg_quoted(sql: str) -> str:
    """An SQL fragment with its mixed-case names double-quoted, as PostgreSQL needs them (unquoted,
    `Quality` folds to `quality`): what an operator writes in aggregate_filter on PostgreSQL."""
    def quote(m: re.Match) -> str:
        word = m.group(0)
        return f'"{word}"' if word != word.lower() and word != word.upper() else word

    return re.sub(r'(?<![\w"])[A-Za-z_]\w*(?![\w"])', quote, sql)


def scrape(cfg: Settings, **kw):
    kw.setdefault("allow_create", True)
    kw.setdefault("catchup", True)
    return commands.run(cfg, **kw)


def target_rows(engine: sa.Engine, kls: str) -> list[tuple]:
    """Every validity record with its payload, ignoring SEQNO and INSERTDATE (what restart invariance
    promises), in a canonical order."""
    md = sa.MetaData()
    vld = sa.Table(f"{kls}Vld", md, autoload_with=engine)
    payload = sa.Table(kls, md, autoload_with=engine)
    data_cols = [c for c in payload.c if c.name not in ("SEQNO",)]
    with engine.connect() as conn:
        vrows = conn.execute(sa.select(vld).order_by(vld.c.SEQNO)).mappings().all()
        prow = conn.execute(sa.select(payload).order_by(payload.c.SEQNO, payload.c.ROW_COUNTER)).mappings().all()
    by_seqno: dict[int, list[tuple]] = {}
    for r in prow:
        by_seqno.setdefault(r["SEQNO"], []).append(tuple(r[c.name] for c in data_cols))
    out = []
    for v in vrows:
        head = tuple(v[k] for k in ("TIMESTART", "TIMEEND", "SITEMASK", "SIMMASK", "SUBSITE", "TASK",
                                    "AGGREGATENO", "VERSIONDATE"))
        out.append(head + (tuple(by_seqno.get(v["SEQNO"], [])),))
    return sorted(out, key=lambda r: (r[2], r[4], r[0], r[1]))


def validities(engine: sa.Engine, kls: str, subsite: int | None = None) -> list[tuple]:
    """(TIMESTART, TIMEEND) of each validity record in SEQNO order."""
    vld = sa.Table(f"{kls}Vld", sa.MetaData(), autoload_with=engine)
    stmt = sa.select(vld.c.TIMESTART, vld.c.TIMEEND).order_by(vld.c.SEQNO)
    if subsite is not None:
        stmt = stmt.where(vld.c.SUBSITE == subsite)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(stmt)]


# A regime module a physicist might write: its changed() was written without a thought for NULL
# readings, so it raises on one. Tests of the regime-failure path (exit 3, one line) run it.
FRAGILE_REGIME = '''
from regimes.adtemp import AdTemp
from scraper import Scraper


class FragileScraper(Scraper):
    def changed(self, sv):  # written without a thought for NULL readings
        return abs(sv[-1]["Temp_PT1"] - sv[0]["Temp_PT1"]) > self.threshold

    def propagate(self, sv):
        yield {name: sv[-1][name] for name in self.target.columns}


class Fragile(AdTemp):
    scraper = FragileScraper
'''


def slow_regime(module: str, regime: str, seconds: float, name: str = "Slow") -> str:
    """The source of a regime module: `module`'s `regime` with a slow target, each propagation taking
    `seconds`, asleep rather than busy, so that a run lasts seconds on a machine of any speed (a test
    stops it in the middle, or runs copies that must overlap). It writes exactly what `regime` writes."""
    return f'''
import time

from {module} import {regime}, {regime}Scraper


class SlowScraper({regime}Scraper):
    def propagate(self, sv):
        time.sleep({seconds})
        yield from super().propagate(sv)


class {name}({regime}):
    scraper = SlowScraper
'''


# The AD temperatures regime, 20 ms a propagation: a catch-up of a few hundred propagations lasts seconds
SLOW_REGIME = slow_regime("regimes.adtemp", "AdTemp", 0.02)
