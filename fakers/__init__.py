"""Fake source data: value profiles, fake source schemas and the faker runner (mode = faker)."""
