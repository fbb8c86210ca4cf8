"""PMT high voltages: content lives in column names (L<ladder>C<col>R<ring>); the HV table is joined
with its power table, and each source entry fans out into 192 payload rows, one per channel."""
from __future__ import annotations

import re

import sqlalchemy as sa

from fakers.schemas import PMT_CHANNELS, pmthv_tables
from scraper import Faker, Regime, Scraper, Source, Target, any_of, moved

CHANNEL = re.compile(r"L(\d+)C(\d+)R(\d+)")
# (column, ladder, col, ring) parsed once: propagate() runs per record, and `report` runs it per entry
LAYOUT = [(c, *map(int, CHANNEL.fullmatch(c).groups())) for c in PMT_CHANNELS]


class PmtHvScraper(Scraper):
    def changed(self, sv) -> bool:
        old, new = sv[0], sv[-1]
        return any(abs(new[c] - old[c]) > self.threshold or new[f"{c}_Pw"] != old[f"{c}_Pw"]
                   for c in PMT_CHANNELS)

    def changed_sql(self, first, c):
        # `!=` is NULL when either side is: a NULL power state on either side is a candidate, as in moved()
        power = [sa.or_(c[p] != first[p], c[p].is_(None), first[p].is_(None))
                 for p in (f"{ch}_Pw" for ch in PMT_CHANNELS)]
        return sa.or_(moved(c, first, PMT_CHANNELS, self.threshold), any_of(power))

    def propagate(self, sv):
        inst = sv[-1]
        for c, ladder, col, ring in LAYOUT:
            yield {"ladder": ladder, "col": col, "ring": ring, "voltage": inst[c], "pw": inst[f"{c}_Pw"]}


class PmtHvFaker(Faker):
    tables = pmthv_tables(sa.MetaData())

    def fake(self, table, id, dt, profile):
        row = super().fake(table, id, dt, profile)
        if table.name.endswith("Pw"):
            return {k: (v if k in ("id", "date_time") else 1) for k, v in row.items()}
        return {k: (v if k in ("id", "date_time") else 1500.0 + v) for k, v in row.items()}


class PmtHv(Regime):
    sources = [
        Source("DBNS_AD1_HV", joins=("DBNS_AD1_HVPw",), sitemask=1, subsite=1),
        Source("DBNS_AD2_HV", joins=("DBNS_AD2_HVPw",), sitemask=1, subsite=2),
    ]
    target = Target("DcsPmtHv", ladder=sa.Integer, col=sa.Integer, ring=sa.Integer,
                    voltage=sa.Float, pw=sa.Integer)
    scraper = PmtHvScraper
    faker = PmtHvFaker
    # mode = bridge: one Grafana row per channel and entry, so a panel is `WHERE ladder = 1 AND ring = 3`
    bridge_columns = {"ladder": sa.Integer, "col": sa.Integer, "ring": sa.Integer, "voltage": sa.Float,
                      "pw": sa.Integer}

    @classmethod
    def bridge_rows(cls, source, entry):
        for c in PMT_CHANNELS:
            ladder, col, ring = map(int, CHANNEL.fullmatch(c).groups())
            yield {"ladder": ladder, "col": col, "ring": ring, "voltage": entry[c], "pw": entry[f"{c}_Pw"]}
