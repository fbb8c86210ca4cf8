"""Regimes of the migration tests: the adtemp bridge as it was (one source) and as it grew (a second
source, AD lid sensors). The added column comes from the DCS: DBNS_SAB_Temp gained Temp_PT5."""
from __future__ import annotations

from scraper import Regime, Source, Target


class OldTemp(Regime):
    sources = [Source("DBNS_SAB_Temp")]
    target = Target("Unused")


class GrownTemp(Regime):
    sources = [Source("DBNS_SAB_Temp"), Source("AD1_LidSensor")]
    target = Target("Unused")
