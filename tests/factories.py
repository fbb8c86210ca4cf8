"""factory-boy factories for source rows of the example regimes, inserted into real databases."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

import factory
import sqlalchemy as sa

from regimes.adlid import LID, adlid_tables
from regimes.adtemp import PT, adtemp_tables
from regimes.pmthv import PMT_CHANNELS, pmthv_tables

START = datetime(2011, 2, 1, 0, 0, 10)
STEP = timedelta(seconds=10)


class AdTempRowFactory(factory.Factory):
    """One DBNS_SAB_Temp entry every 10 s from 2011-02-01 00:00:10 (so id 6 is at 00:01:00)."""

    class Meta:
        model = dict

    id = factory.Sequence(lambda n: n + 1)
    date_time = factory.LazyAttribute(lambda o: START + (o.id - 1) * STEP)
    Temp_PT1 = 20.0
    Temp_PT2 = 21.0
    Temp_PT3 = 22.0
    Temp_PT4 = 23.0
    Temp_PT5 = 24.0


class PmtHvRowFactory(factory.Factory):
    """An HV entry with all 192 channels at `channels` volts (default 1500 V)."""

    class Meta:
        model = dict
    id = factory.Sequence(lambda n: n + 1)
    date_time = factory.LazyAttribute(lambda o: START + (o.id - 1) * STEP)

    @factory.post_generation
    def channels(obj, create, extracted, **kwargs):
        for c in PMT_CHANNELS:
            obj.setdefault(c, extracted if extracted is not None else 1500.0)


class PmtHvPwRowFactory(factory.Factory):
    """A power-table entry (all 192 channels `on`); pair it with the HV entry of the same id."""

    class Meta:
        model = dict
    id = factory.Sequence(lambda n: n + 1)
    date_time = factory.LazyAttribute(lambda o: START + (o.id - 1) * STEP)

    @factory.post_generation
    def on(obj, create, extracted, **kwargs):
        for c in PMT_CHANNELS:
            obj.setdefault(f"{c}_Pw", extracted if extracted is not None else 1)


LID_STEP = timedelta(seconds=5)


class AdLidRowFactory(factory.Factory):
    """An AD1_LidSensor entry every 5 s: 19 readings at plausible levels, Quality 1 (good).
    `AdLidRowFactory(bad=True)` is a reading the DCS flagged (Quality = 0)."""

    class Meta:
        model = dict
        exclude = ("bad",)

    bad = False
    id = factory.Sequence(lambda n: n + 1)
    date_time = factory.LazyAttribute(lambda o: START + (o.id - 1) * LID_STEP)
    Quality = factory.LazyAttribute(lambda o: 0 if o.bad else 1)

    @factory.post_generation
    def readings(obj, create, extracted, **kwargs):
        for k, c in enumerate(LID):
            obj.setdefault(c, extracted if extracted is not None else 10.0 * (k + 1))


def reset() -> None:
    for f in (AdTempRowFactory, PmtHvRowFactory, PmtHvPwRowFactory, AdLidRowFactory):
        f.reset_sequence()


def create_adtemp(engine: sa.Engine) -> sa.Table:
    (table,) = adtemp_tables(sa.MetaData())
    table.metadata.create_all(engine)
    return table


def create_pmthv(engine: sa.Engine, detectors=("AD1", "AD2")) -> list[sa.Table]:
    tables = pmthv_tables(sa.MetaData(), detectors)
    tables[0].metadata.create_all(engine)
    return tables


def create_adlid(engine: sa.Engine) -> sa.Table:
    (table,) = adlid_tables(sa.MetaData())
    table.metadata.create_all(engine)
    return table


def lid_rows(n: int, start: datetime = datetime(2011, 2, 1), step: timedelta = timedelta(seconds=5),
             first_id: int = 1, seed: int = 7, sigma: float = 0.05, bad_every: int = 7) -> list[dict]:
    """Noisy AD lid readings around realistic levels (ids from `first_id`, reproducible per seed);
    every `bad_every`-th entry has Quality = 0, as the DCS flags bad readings."""
    rng = random.Random(seed * 1_000_003 + first_id)
    rows = []
    for i in range(first_id, first_id + n):
        row = {"id": i, "date_time": start + (i - first_id) * step, "Quality": 0 if i % bad_every == 0 else 1}
        row.update({c: round(20.0 + k + rng.gauss(0, sigma), 3) for k, c in enumerate(LID)})
        rows.append(row)
    return rows


def create_lid(engine: sa.Engine, rows: list[dict]) -> sa.Table:
    table = create_adlid(engine)
    insert(engine, table, rows)
    return table


def insert(engine: sa.Engine, table: sa.Table, rows: list[dict]) -> None:
    if rows:
        with engine.begin() as conn:
            conn.execute(table.insert(), rows)


def power_row(hv_row: dict, on: int = 1) -> dict:
    row = {"id": hv_row["id"], "date_time": hv_row["date_time"]}
    row.update({f"{c}_Pw": on for c in PMT_CHANNELS})
    return row


__all__ = ["AdTempRowFactory", "PmtHvRowFactory", "PmtHvPwRowFactory", "AdLidRowFactory", "PT", "PMT_CHANNELS",
           "LID", "reset", "create_adtemp", "create_pmthv", "create_adlid", "create_lid", "lid_rows", "insert", "power_row"]
