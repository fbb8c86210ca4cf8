"""AD lid sensors: 19 readings per entry, propagated as database-computed aggregates (DESIGN.md §6).

The payload is not the latest entry but avg/min/max/std of every reading over the validity range, plus
the number of entries that passed `aggregate_filter = Quality != 0` — all read from `sv[-1].aggd`, which
the engine fills with ONE SQL query when propagate() first touches it. The same regime serves
`mode = averager` (section adlid_averager): there propagate() runs once per hourly bin.
"""
from __future__ import annotations

import sqlalchemy as sa

from fakers.schemas import LID, adlid_tables
from scraper import Faker, Regime, Scraper, Source, Target, moved

FUNCTIONS = ("avg", "min", "max", "std")
WATCHED = ("Temp_GdLS", "Temp_LS")


class AdLidScraper(Scraper):
    aggregates = FUNCTIONS
    def changed(self, sv) -> bool:
        old, new = sv[0], sv[-1]
        return any(new[c] is not None and old[c] is not None and abs(new[c] - old[c]) > self.threshold
                   for c in WATCHED)

    def changed_sql(self, first, c):
        return moved(c, first, WATCHED, self.threshold)  # a superset: NULLs are left to changed()

    def propagate(self, sv):
        aggd = sv[-1].aggd
        row = {f"{c}_{fn}": aggd.get(f"{c}_{fn}") for c in LID for fn in FUNCTIONS}
        row["nsamples"] = aggd[self.cfg.aggregate_count]
        yield row


class AdLidFaker(Faker):
    tables = adlid_tables(sa.MetaData())

    def fake(self, table, id, dt, profile):
        row = super().fake(table, id, dt, profile)
        row["Quality"] = 1  # a good reading; the faker's realism options mark some bad (Quality = 0)
        return row


class AdLid(Regime):
    sources = [Source("AD1_LidSensor", sitemask=1, subsite=1)]
    target = Target("DcsAdLidSensor", **{f"{c}_{fn}": sa.Double for c in LID for fn in FUNCTIONS},
                    nsamples=sa.Integer)
    scraper = AdLidScraper
    faker = AdLidFaker
