"""The skip search's counts (scraper/sources/sql/counting.py) are what the catch-up reports as entries
judged, and the id-order check that keeps its target exact: on rows as a DCS writes them (re-inserted
timestamps, ids that do not follow time, rows beyond what a search saw), the quick count and its
fallback must give exactly what the definition of a span says, on every backend."""
from __future__ import annotations

import random
from datetime import timedelta

import pytest

from factories import create_adtemp, insert
from regimes.adtemp import AdTemp
from scraper.sources.sql.counting import SpanCounter
from scraper.sources.sql.reader import SourceReader
from scraper.sources.sql.spans import Span
from test_skipping import REGIME, dcs_rows


def _expected(rows: list[dict], chunk: list[Span]) -> tuple[int, list[Span]]:
    """A span's entries by its definition: from lo on, beyond `after`, before `upto`, seen (id <= wm)."""
    total, suspects = 0, []
    for sp in chunk:
        (t, i), (ut, ui) = sp.after, sp.upto
        inside = [r for r in rows if sp.lo <= r["date_time"] and (t, i) < (r["date_time"], r["id"]) < (ut, ui)
                  and r["id"] <= sp.wm]
        total += len(inside) - sp.inside
        if sp.by_id and any(r["id"] <= i or r["id"] >= ui for r in inside):
            suspects.append(sp)
    return total, suspects


@pytest.mark.parametrize("quick", [True, False], ids=["quick", "exact"])
def test_span_counts_equal_their_definition_with_disorder_and_unseen_rows(dbs, quick):
    rng = random.Random(8)
    rows = dcs_rows(400, seed=3)
    for _ in range(12):  # ids that do not follow time: swap a few, near and far
        a = rng.randrange(len(rows))
        b = min(len(rows) - 1, a + rng.choice([1, 2, 30]))
        rows[a]["id"], rows[b]["id"] = rows[b]["id"], rows[a]["id"]
    src = dbs.engine("source")
    insert(src, create_adtemp(src), rows)
    cfg = dbs.settings(**REGIME, kls="Counted")
    reader = SourceReader(src, AdTemp.sources[0], cfg, 100)
    counter = SpanCounter(reader, 4, quick=quick)
    keys = sorted((r["date_time"], r["id"]) for r in rows)
    exact_needed = 0
    try:
        for _ in range(60):
            chunk = []
            for _ in range(rng.randint(1, 4)):
                a, b = sorted(rng.sample(range(len(keys)), 2))
                after, upto = keys[a], keys[b] if rng.random() < 0.9 else keys[a]
                lo = after[0] + rng.choice([timedelta(0), timedelta(0), timedelta(seconds=10), timedelta(seconds=25)])
                wm = max(r["id"] for r in rows) - rng.choice([0, 0, 5, 40])
                chunk.append(Span(lo, after, upto, wm, by_id=rng.random() < 0.5))
            entries, suspects, queries = counter.count(chunk)
            assert (entries, suspects) == _expected(rows, chunk), chunk
            exact_needed += queries == 2
    finally:
        counter.close()
    # the quick count was checked alone and with its fallback (the exact count runs alone)
    assert 0 < exact_needed < 60 if quick else exact_needed == 0
