"""Fake DCS source schemas, shaped like the real ones (content encoded in table and column names)."""
from __future__ import annotations

import sqlalchemy as sa

from scraper.db import DateTime

PT = [f"Temp_PT{i}" for i in range(1, 6)]
PMT_CHANNELS = [f"L{ladder}C{col}R{ring}" for ladder in range(1, 9) for col in range(1, 4) for ring in range(1, 9)]


def dcs_table(metadata: sa.MetaData, name: str, *columns: sa.Column) -> sa.Table:
    """Every DCS table starts with an auto-increment id and a naive local date_time (indexed)."""
    return sa.Table(
        name, metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("date_time", DateTime, nullable=False, index=True),
        *columns,
        mysql_engine="InnoDB",
    )


# AD lid sensors (shaped like the real AD1_LidSensor): 19 readings + a Quality flag, every ~5 s.
LID = ["Ultrasonic_GdLS", "Ultrasonic_LS", "Temp_GdLS", "Temp_LS", "Tilt_X_Cal", "Tilt_Y_Cal",
       "Tilt1_X", "Tilt1_Y", "Tilt2_X", "Tilt2_Y", "Tilt3_X", "Tilt3_Y", "Capacitance_GdLS",
       "Capacitance_Temp_GdLS", "Capacitance_LS", "Capacitance_Temp_LS", "Capacitance_MO",
       "Capacitance_Temp_MO", "Temp_Box"]


def adlid_tables(metadata: sa.MetaData, name: str = "AD1_LidSensor") -> list[sa.Table]:
    return [dcs_table(metadata, name, *(sa.Column(c, sa.Float) for c in LID), sa.Column("Quality", sa.Integer))]


def adtemp_tables(metadata: sa.MetaData) -> list[sa.Table]:
    return [dcs_table(metadata, "DBNS_SAB_Temp", *(sa.Column(c, sa.Float) for c in PT))]


def pmthv_tables(metadata: sa.MetaData, detectors: tuple[str, ...] = ("AD1", "AD2")) -> list[sa.Table]:
    tables = []
    for ad in detectors:
        tables.append(dcs_table(metadata, f"DBNS_{ad}_HV", *(sa.Column(c, sa.Float) for c in PMT_CHANNELS)))
        tables.append(dcs_table(metadata, f"DBNS_{ad}_HVPw", *(sa.Column(f"{c}_Pw", sa.Integer) for c in PMT_CHANNELS)))
    return tables
