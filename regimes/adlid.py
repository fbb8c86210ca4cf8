"""AD lid sensors: 19 readings per entry, propagated as database-computed aggregates.

The payload is not the latest entry but avg/min/max/std of every reading over the validity range, plus
the number of entries that passed `aggregate_filter = Quality != 0` — all read from `sv[-1].aggd`, which
the engine fills with ONE SQL query when propagate() first touches it. The same regime serves
`mode = averager` (section adlid_averager): there propagate() runs once per hourly bin.
"""
from __future__ import annotations

import sqlalchemy as sa

from scraper import Faker, Moved, Regime, Scraper, Source, Target, dcs_table

FUNCTIONS = ("avg", "min", "max", "std")
# shaped like the real AD1_LidSensor: 19 readings + a Quality flag, every ~5 s
LID = ["Ultrasonic_GdLS", "Ultrasonic_LS", "Temp_GdLS", "Temp_LS", "Tilt_X_Cal", "Tilt_Y_Cal",
       "Tilt1_X", "Tilt1_Y", "Tilt2_X", "Tilt2_Y", "Tilt3_X", "Tilt3_Y", "Capacitance_GdLS",
       "Capacitance_Temp_GdLS", "Capacitance_LS", "Capacitance_Temp_LS", "Capacitance_MO",
       "Capacitance_Temp_MO", "Temp_Box"]
WATCHED = ("Temp_GdLS", "Temp_LS")
TEMPERATURES = ("Temp_GdLS", "Temp_LS", "Temp_Box")  # degC; the other readings' units are the sensor's


def adlid_tables(metadata: sa.MetaData, name: str = "AD1_LidSensor") -> list[sa.Table]:
    return [dcs_table(metadata, name, *(sa.Column(c, sa.Float) for c in LID), sa.Column("Quality", sa.Integer))]


class AdLidScraper(Scraper):
    aggregates = FUNCTIONS
    # a new record when a liquid temperature moves (a reading going missing is a change too)
    change = Moved(WATCHED, by="threshold")

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
                    nsamples=sa.Integer, units={f"{c}_{fn}": "degC" for c in TEMPERATURES for fn in FUNCTIONS})
    units = {c: "degC" for c in TEMPERATURES}
    scraper = AdLidScraper
    faker = AdLidFaker
