"""Fake source data: value profiles, DCS realism and the faker runner (mode = faker); the source
schemas are the regimes' own (regimes/*.py)."""
