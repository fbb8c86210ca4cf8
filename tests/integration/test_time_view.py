"""`time_view = True`: a DBI target gets a view `<kls>_time` with the validity range in UTC unix
seconds, so Grafana plots a conditions table the way it plots a bridged one."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from factories import AdTempRowFactory, create_adtemp, insert
from support import scrape
import pytest



EPOCH = datetime(1970, 1, 1)


def test_time_view_gives_unix_seconds_of_each_validity_with_its_payload(dbs):
    src = dbs.engine("source")
    rows = AdTempRowFactory.build_batch(40)
    for i, r in enumerate(rows):
        r["Temp_PT1"] = float(i // 10)  # a change every 10 entries
    rows[25]["date_time"] = rows[25]["date_time"].replace(microsecond=250000)
    rows[20]["date_time"] = rows[20]["date_time"].replace(microsecond=500000)  # a change: a validity edge
    insert(src, create_adtemp(src), rows)
    cfg = dbs.settings(regime="regimes.adtemp:AdTemp", interval="10s", maxage="1h", threshold=0.5,
                       source_tz="UTC", time_view=True)
    scrape(cfg)
    tgt = dbs.engine("target")
    # as Grafana's query would name them on each backend (PostgreSQL: mixed and upper case quoted)
    view = sa.table("DcsAdTemp_time", sa.column("time"), sa.column("timeend"), sa.column("Temp_PT1"))
    vld = sa.table("DcsAdTempVld", sa.column("TIMESTART"), sa.column("TIMEEND"))
    with tgt.connect() as conn:
        view = conn.execute(sa.select(view).order_by(view.c.time)).all()
        vld = conn.execute(sa.select(vld).order_by(vld.c.TIMESTART)).all()
    assert len(view) == len(vld) >= 3

    def unix(t):
        t = t if isinstance(t, datetime) else datetime.fromisoformat(t)
        s = (t - EPOCH).total_seconds()
        return int(s) if s == int(s) else s
    assert [(float(a), float(b)) for a, b, _ in view] == [(float(unix(s)), float(unix(e))) for s, e in vld]
    whole = [a for a, _b, _ in view if float(a) == int(float(a))]
    if dbs.backend == "sqlite":
        assert all(isinstance(a, int) for a in whole)  # whole seconds are integers, as in the bridge
    else:
        assert all(isinstance(a, float) for a, _b, _ in view)  # one DOUBLE column, fractions exact
    assert any(float(a) != int(float(a)) for a, _b, _ in view)  # the edge at .5 s kept its fraction
    assert [v for _a, _b, v in view] == sorted(v for _a, _b, v in view)
