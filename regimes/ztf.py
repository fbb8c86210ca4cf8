"""ZTF alerts (a stream regime): one `ztf_alert` row per alert and its `ztf_prv_candidate` rows.

An alert is identified by its `candid`; its previous detections and upper limits (prv_candidates)
are keyed by the alert's candid plus their own jd and fid, so a replayed alert, already in
ztf_alert, writes nothing at all. Alerts of schema versions 3.2, 3.3 and 4.02 all load: the fields
read here exist in each, and the newer ones (drb) are read where present. The schemas are in
regimes/ztf_schema/ (field names and nesting of ZTF's public alert schema).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Mapping

import sqlalchemy as sa

from scraper.modes.stream.regime import Invalid, StreamRegime

SCHEMAS = Path(__file__).with_name("ztf_schema")
VERSIONS = ("3.2", "3.3", "4.02")
J2000 = datetime(2000, 1, 1, 12), 2451545.0  # the epoch J2000.0: a UTC time and its Julian date
PRV_COLUMNS = ("candid", "magpsf", "sigmapsf", "diffmaglim", "ra", "dec", "isdiffpos", "programid")


class Ztf(StreamRegime):
    key = ("candid",)

    @classmethod
    def tables(cls, metadata: sa.MetaData) -> list[sa.Table]:
        alert = sa.Table(
            "ztf_alert", metadata,
            sa.Column("candid", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("objectId", sa.String(16), nullable=False, index=True),
            sa.Column("schemavsn", sa.String(8)),
            sa.Column("jd", sa.Double, nullable=False),
            sa.Column("fid", sa.Integer, nullable=False),
            sa.Column("programid", sa.Integer),
            sa.Column("ra", sa.Double, nullable=False),
            sa.Column("dec", sa.Double, nullable=False),
            sa.Column("magpsf", sa.Float, nullable=False),
            sa.Column("sigmapsf", sa.Float, nullable=False),
            sa.Column("isdiffpos", sa.String(1)),
            sa.Column("rb", sa.Float),
            sa.Column("drb", sa.Float),
            sa.Column("ndethist", sa.Integer),
            sa.Column("n_prv", sa.Integer, nullable=False),
            mysql_engine="InnoDB",
        )
        prv = sa.Table(
            "ztf_prv_candidate", metadata,
            sa.Column("alert_candid", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("jd", sa.Double, primary_key=True, autoincrement=False),
            sa.Column("fid", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("candid", sa.BigInteger),  # null for an upper limit (no detection)
            sa.Column("magpsf", sa.Float),
            sa.Column("sigmapsf", sa.Float),
            sa.Column("diffmaglim", sa.Float),
            sa.Column("ra", sa.Double),
            sa.Column("dec", sa.Double),
            sa.Column("isdiffpos", sa.String(1)),
            sa.Column("programid", sa.Integer),
            mysql_engine="InnoDB",
        )
        return [alert, prv]

    @classmethod
    def rows(cls, message: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
        c = message.get("candidate")
        if not isinstance(c, Mapping):
            raise Invalid("no candidate record")
        candid = message["candid"]
        if c.get("candid") != candid:
            raise Invalid(f"candid {candid} differs from candidate.candid {c.get('candid')}")
        prv = message.get("prv_candidates") or []
        alert = {"candid": candid, "objectId": message["objectId"], "schemavsn": message.get("schemavsn"),
                 "jd": c["jd"], "fid": c["fid"], "programid": c.get("programid"), "ra": c["ra"], "dec": c["dec"],
                 "magpsf": c["magpsf"], "sigmapsf": c["sigmapsf"], "isdiffpos": c.get("isdiffpos"),
                 "rb": c.get("rb"), "drb": c.get("drb"), "ndethist": c.get("ndethist"), "n_prv": len(prv)}
        for name in ("jd", "ra", "dec", "magpsf", "sigmapsf"):
            if not isinstance(alert[name], (int, float)):
                raise Invalid(f"candidate.{name} is {alert[name]!r}, not a number")
        history: dict[tuple, dict] = {}  # one row per (jd, fid): an exposure observes an object once
        for p in prv:
            history.setdefault((p["jd"], p["fid"]), {"alert_candid": candid, "jd": p["jd"], "fid": p["fid"],
                                                     **{k: p.get(k) for k in PRV_COLUMNS}})
        return {"ztf_alert": [alert], "ztf_prv_candidate": list(history.values())}

    @classmethod
    def time(cls, message: Mapping[str, Any]) -> datetime:
        """The observation's time: the candidate's jd (called after rows(), so it is a number) in UTC."""
        return J2000[0] + timedelta(days=message["candidate"]["jd"] - J2000[1])
