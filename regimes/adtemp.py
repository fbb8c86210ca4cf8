"""AD temperatures: one DCS table with five PT sensors -> DcsAdTemp, propagated on any |dT| > threshold."""
from __future__ import annotations

import sqlalchemy as sa

from scraper import Faker, Moved, Regime, Scraper, Source, Target, dcs_table

PT = [f"Temp_PT{i}" for i in range(1, 6)]


def adtemp_tables(metadata: sa.MetaData) -> list[sa.Table]:
    """The DCS table as the detector writes it (what the faker creates, and tests fill)."""
    return [dcs_table(metadata, "DBNS_SAB_Temp", *(sa.Column(c, sa.Float) for c in PT))]


class AdTempScraper(Scraper):
    change = Moved(PT, by="threshold")  # judged in Python and, while catching up, in the database

    def propagate(self, sv):
        yield {c: sv[-1][c] for c in PT}


class AdTempFaker(Faker):
    tables = adtemp_tables(sa.MetaData())


class AdTemp(Regime):
    sources = [Source("DBNS_SAB_Temp", sitemask=1, subsite=1)]
    target = Target("DcsAdTemp", units={c: "degC" for c in PT}, **{c: sa.Float for c in PT})
    scraper = AdTempScraper
    faker = AdTempFaker
