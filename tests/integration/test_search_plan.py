"""The id-order skip search's plan: the primary key walked in order and stopped at the first candidate,
on every backend, also on a table the planner knows nothing about yet.

A freshly loaded PostgreSQL table has no planner statistics until autovacuum analyzes it. PostgreSQL then
took the search's two ranges (date_time from the cursor, id up to the watermark) to hold ~0.5 % of the
rows each, and read both whole through a BitmapAnd before sorting: every row beyond the cursor, per
search (45 ms at 200 000 rows; a first catch-up 20x slower than the next)."""
from __future__ import annotations

import re
from datetime import timedelta

from factories import START, AdTempRowFactory, create_adtemp, insert
from scraper.modes.scrape import Scrape

ROWS = 20_000


def walked(backend: str, plan: list[tuple]) -> bool:
    """Whether the plan reads the table in primary-key order from the search's lower id (and no other
    index of the table)."""
    if backend == "sqlite":  # (id, parent, notused, detail)
        steps = [row[-1] for row in plan]
        return ("SEARCH DBNS_SAB_Temp USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in steps
                and not [s for s in steps if re.match(r"(SEARCH|SCAN) DBNS_SAB_Temp USING (COVERING )?INDEX", s)])
    if backend == "mariadb":  # id, select_type, table, type, possible_keys, key, ...
        main = [row for row in plan if row[2] == "DBNS_SAB_Temp"]
        return bool(main) and all(row[5] == "PRIMARY" and row[3] == "range" for row in main)
    text = "\n".join(row[0] for row in plan)
    return (re.search(r'Index Scan using "DBNS_SAB_Temp_pkey" on "DBNS_SAB_Temp"', text) is not None
            and "Bitmap" not in text and "Sort" not in text)


def test_the_id_order_search_walks_the_primary_key_even_before_the_table_is_analyzed(dbs):
    src = dbs.engine("source")
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(ROWS))  # never analyzed
    if dbs.backend == "postgresql":
        with src.connect() as conn:
            assert conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE relname = 'DBNS_SAB_Temp'").scalar() < 0
    cfg = dbs.settings(regime="regimes.adtemp:AdTemp", interval="10s", maxage="10m", threshold=0.5)
    job = Scrape.start(cfg, allow_create=True, catchup=True)
    try:
        (reader, skipper), = job.skippers.items()
        first = reader.next_entry(START, None, 0)  # as a catch-up starts: the first batch sets the watermark
        search = skipper.statement(seen=True)
        params = {"_lo": first.t, "_t": first.t, "_i": first["id"], "_limit": first.t + timedelta(minutes=10),
                  "_fut": reader.bound(), "_wm": reader.watermark, **skipper.first.values(first)}
        explain = {"sqlite": "EXPLAIN QUERY PLAN ", "mariadb": "EXPLAIN ", "postgresql": "EXPLAIN "}[dbs.backend]
        plan = search.with_sql(explain + search.sql).execute_raw(params)
        assert walked(dbs.backend, plan), plan
        if dbs.backend == "postgresql":  # and once autovacuum has analyzed it, as before
            with src.begin() as conn:
                conn.exec_driver_sql('ANALYZE "DBNS_SAB_Temp"')
            plan = search.with_sql(explain + search.sql).execute_raw(params)
            assert walked(dbs.backend, plan), plan
        # and the statement finds what it is for: the first entry beyond sv[-1] that moved or is over maxage
        found = search.execute(params)
        assert found and found[0][0] > first["id"]
    finally:
        job.close()
