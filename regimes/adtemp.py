"""AD temperatures: one DCS table with five PT sensors -> DcsAdTemp, propagated on any |dT| > threshold."""
from __future__ import annotations

import sqlalchemy as sa

from fakers.schemas import PT, adtemp_tables
from scraper import Faker, Regime, Scraper, Source, Target, moved


class AdTempScraper(Scraper):
    def changed(self, sv) -> bool:
        first, last = sv[0], sv[-1]
        return any(abs(last[c] - first[c]) > self.threshold for c in PT)

    def changed_sql(self, first, c):
        return moved(c, first, PT, self.threshold)  # the same test in SQL: catch-up skips in the database

    def propagate(self, sv):
        yield {c: sv[-1][c] for c in PT}


class AdTempFaker(Faker):
    tables = adtemp_tables(sa.MetaData())


class AdTemp(Regime):
    sources = [Source("DBNS_SAB_Temp", sitemask=1, subsite=1)]
    target = Target("DcsAdTemp", **{c: sa.Float for c in PT})
    scraper = AdTempScraper
    faker = AdTempFaker
