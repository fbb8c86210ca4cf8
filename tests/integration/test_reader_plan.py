"""The batch query's plan: an index range from the cursor up to the wall-clock bound, so that the cost per entry stays flat as
the table grows (the OR form `date_time > t OR (date_time = t AND id > i)` was planned by SQLite as a
scan of the whole date_time index: 33 us per entry on a 200 k table, 176 us on 2 M)."""
from __future__ import annotations

from datetime import timedelta

from factories import START, AdTempRowFactory, create_adtemp, insert
from scraper.sources.sql.reader import SourceReader

from regimes.adtemp import AdTemp


def test_the_batch_query_is_an_index_range_from_the_cursor(sqlite_dbs):
    src = sqlite_dbs.engine("source")
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(500))
    cfg = sqlite_dbs.settings(regime="regimes.adtemp:AdTemp")
    reader = SourceReader(src, AdTemp.sources[0], cfg, batch=1000)
    assert reader.next_entry(START, None, 0)["id"] == 1  # the first batch sets the late check's watermark
    at = START + timedelta(seconds=2000)
    for after in (None, (at, 200), (at - timedelta(seconds=30), 197)):  # cursor beyond, at, after sv[-1]
        stmt = reader.batch_statement(at, after, 1000).compile(src)
        with src.connect() as conn:
            plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {stmt}",
                                                              tuple(stmt.params[k] for k in stmt.positiontup))]
        # one range: from the cursor to the wall-clock bound (entries beyond it are not data yet)
        assert "SEARCH DBNS_SAB_Temp USING INDEX ix_DBNS_SAB_Temp_date_time (date_time>? AND date_time<?)" in plan, plan
        assert not [step for step in plan if step.startswith("SCAN DBNS_SAB_Temp")], plan
    # and the entries it returns are those beyond sv[-1], in (date_time, id) order
    entries = reader.run(reader.query.where(reader.after(at, (at, 200))).order_by(reader.dt, reader.id).limit(3))
    assert [e["id"] for e in entries] == [201, 202, 203]
