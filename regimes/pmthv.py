"""PMT high voltages: content lives in column names (L<ladder>C<col>R<ring>); the HV table is joined
with its power table, and each source entry fans out into 192 payload rows, one per channel."""
from __future__ import annotations

import re

import sqlalchemy as sa

from scraper import Differs, Faker, Moved, Regime, Scraper, Source, Target, dcs_table

CHANNEL = re.compile(r"L(\d+)C(\d+)R(\d+)")
PMT_CHANNELS = [f"L{ladder}C{col}R{ring}" for ladder in range(1, 9) for col in range(1, 4) for ring in range(1, 9)]
POWER = [f"{c}_Pw" for c in PMT_CHANNELS]


def pmthv_tables(metadata: sa.MetaData, detectors: tuple[str, ...] = ("AD1", "AD2")) -> list[sa.Table]:
    """Per detector a voltage table and its power-state table, written in lockstep (same ids)."""
    tables = []
    for ad in detectors:
        tables.append(dcs_table(metadata, f"DBNS_{ad}_HV", *(sa.Column(c, sa.Float) for c in PMT_CHANNELS)))
        tables.append(dcs_table(metadata, f"DBNS_{ad}_HVPw", *(sa.Column(p, sa.Integer) for p in POWER)))
    return tables


# (column, ladder, col, ring) parsed once: propagate() runs per record, and `report` runs it per entry
LAYOUT = [(c, *map(int, CHANNEL.fullmatch(c).groups())) for c in PMT_CHANNELS]


class PmtHvScraper(Scraper):
    # a voltage that moved, or a channel switched on or off (a NULL power state is a state too)
    change = Moved(PMT_CHANNELS, by="threshold") | Differs(POWER)

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
                    voltage=sa.Float, pw=sa.Integer, units={"voltage": "V"})
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
