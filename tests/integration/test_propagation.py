"""Propagation (docs/concepts.md) on real databases: entry selection, states, validity records, fan-out."""
from __future__ import annotations

import logging
from datetime import datetime as D

import pytest

from factories import AdTempRowFactory, PmtHvRowFactory, create_adtemp, create_pmthv, insert, power_row
from support import scrape, target_rows, validities

ADTEMP = {"regime": "regimes.adtemp:AdTemp", "interval": "10s", "maxage": "1m", "threshold": 1.0,
          "timefloor": "2011-02-01 00:01:00"}


def t(hms: str, day: str = "2011-02-01") -> D:
    return D.fromisoformat(f"{day} {hms}")


def test_worked_example_of_the_design_is_reproduced_exactly(dbs, caplog):
    """A catch-up (--catchup): the per-sample lines are at DEBUG; INFO says what was committed."""
    src = dbs.engine("source")
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(40))  # 00:00:10 .. 00:06:40, constant
    with caplog.at_level(logging.DEBUG, logger="scraper.sourcevector"):
        summary = scrape(dbs.settings(**ADTEMP))
    assert validities(dbs.engine("target"), "DcsAdTemp") == [
        (t("00:01:00"), t("00:02:10")), (t("00:02:10"), t("00:03:20")),
        (t("00:03:20"), t("00:04:30")), (t("00:04:30"), t("00:05:40")),
    ]
    lines = [r.getMessage() for r in caplog.records if r.name == "scraper.sourcevector"]
    assert lines[0] == "SV 1   (6,)  2011-02-01 00:01:00 partial  notfull  (00:01:00 ++)  ==>"
    assert lines[1] == "SV 2   (6, 7)  2011-02-01 00:01:00 full  unchanged  (00:01:00 00:01:10)  ==>"
    assert lines[7] == "SV 8   (6, 13)  2011-02-01 00:01:00 full  overage  (00:01:00 00:02:10)  ==> PROCEED"
    assert lines[8] == "SV 9   (13, 14)  2011-02-01 00:02:20 full  unchanged  (00:02:10 00:02:20)  ==>"
    assert lines[14].endswith("overage  (00:02:10 00:03:20)  ==> PROCEED")
    assert summary.propagations == 4 and summary.entries_read == 35
    assert {r.levelno for r in caplog.records if r.name == "scraper.sourcevector"} == {logging.DEBUG}


def test_a_catch_up_at_info_logs_committed_groups_not_every_sample(dbs, caplog):
    src = dbs.engine("source")
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(40))
    with caplog.at_level(logging.INFO):
        scrape(dbs.settings(**ADTEMP))
    assert not [r for r in caplog.records if r.name == "scraper.sourcevector"]
    committed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("committed ")]
    assert committed == ["committed 4 propagation(s), validity up to 2011-02-01 00:05:40 UTC"]


def test_payload_is_the_latest_instance_under_one_validity_in_utc(dbs):
    src = dbs.engine("source")
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(19, Temp_PT3=37.5))
    scrape(dbs.settings(**ADTEMP, source_tz="Asia/Shanghai"))
    (row,) = target_rows(dbs.engine("target"), "DcsAdTemp")
    start, end, sitemask, simmask, subsite, task, aggno, versiondate, payload = row
    assert (start, end) == (t("16:01:00", "2011-01-31"), t("16:02:10", "2011-01-31"))
    assert versiondate == start and (sitemask, simmask, subsite, task, aggno) == (1, 1, 1, 0, -1)
    assert payload == ((1, 20.0, 21.0, 37.5, 23.0, 24.0),)


def test_maxage_is_strictly_greater(dbs):
    """Age exactly maxage is still 'unchanged'; only the next entry (age 70 s > 60 s) proceeds."""
    src = dbs.engine("source")
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(13))  # last entry 00:02:10
    scrape(dbs.settings(**ADTEMP))
    assert validities(dbs.engine("target"), "DcsAdTemp") == [(t("00:01:00"), t("00:02:10"))]


def test_a_change_above_threshold_proceeds_at_that_entry(dbs):
    src = dbs.engine("source")
    rows = AdTempRowFactory.build_batch(30)
    for r in rows[9:]:  # from id 10 (00:01:40) PT2 jumps by 1.5 > threshold 1.0
        r["Temp_PT2"] = 22.5
    insert(src, create_adtemp(src), rows)
    scrape(dbs.settings(**ADTEMP))
    got = validities(dbs.engine("target"), "DcsAdTemp")
    assert got[0] == (t("00:01:00"), t("00:01:40"))
    assert got[1] == (t("00:01:40"), t("00:02:50"))  # then constant again: overage after 70 s


def test_offset_reads_every_other_entry(dbs):
    src = dbs.engine("source")
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(40))
    scrape(dbs.settings(**ADTEMP, offset=1))
    assert validities(dbs.engine("target"), "DcsAdTemp") == [
        (t("00:01:10"), t("00:02:30")), (t("00:02:30"), t("00:03:50")),
        (t("00:03:50"), t("00:05:10")), (t("00:05:10"), t("00:06:30")),
    ]


def test_each_source_has_its_own_vector_and_validity_chain(dbs):
    src = dbs.engine("source")
    ad1_hv, ad1_pw, ad2_hv, ad2_pw = create_pmthv(src)
    ad1 = PmtHvRowFactory.build_batch(30)
    ad1[15]["L3C2R7"] = 1490.0  # a 10 V drop on one channel of AD1 at 00:02:40
    PmtHvRowFactory.reset_sequence()
    ad2 = PmtHvRowFactory.build_batch(30)
    for r in ad2:  # AD2 writes every 20 s
        r["date_time"] = t("00:00:10") + (r["id"] - 1) * 2 * (t("00:00:20") - t("00:00:10"))
    insert(src, ad1_hv, ad1), insert(src, ad1_pw, [power_row(r) for r in ad1])
    insert(src, ad2_hv, ad2), insert(src, ad2_pw, [power_row(r) for r in ad2])
    scrape(dbs.settings(regime="regimes.pmthv:PmtHv", interval="10s", maxage="3m", threshold=5.0,
                        timefloor="2011-02-01 00:00:00"))
    tgt = dbs.engine("target")
    assert validities(tgt, "DcsPmtHv", subsite=1) == [
        (t("00:00:10"), t("00:02:40")), (t("00:02:40"), t("00:02:50")),  # changed, then changed back
    ]
    assert validities(tgt, "DcsPmtHv", subsite=2) == [
        (t("00:00:10"), t("00:03:30")), (t("00:03:30"), t("00:06:50")),
    ]
    rows = target_rows(tgt, "DcsPmtHv")
    assert all(len(r[-1]) == 192 for r in rows)
    first = rows[0][-1]
    assert [p[0] for p in first] == list(range(1, 193))  # ROW_COUNTER 1..192
    assert {(p[1], p[2], p[3]) for p in first} == {(l, c, r) for l in range(1, 9) for c in range(1, 4)
                                                   for r in range(1, 9)}
    dropped = [p for r in rows if r[1] == t("00:02:40") for p in r[-1] if (p[1], p[2], p[3]) == (3, 2, 7)]
    assert dropped == [(dropped[0][0], 3, 2, 7, 1490.0, 1)]


@pytest.mark.parametrize("batch", [1, 1000])
def test_source_queries_stay_bounded_per_propagation(sqlite_dbs, batch):
    src = sqlite_dbs.engine("source")
    insert(src, create_adtemp(src), AdTempRowFactory.build_batch(3000))
    summary = scrape(sqlite_dbs.settings(**ADTEMP, batch=batch))
    if batch == 1:
        assert summary.queries <= summary.entries_read + 3  # sample by sample: one query each
    else:
        assert summary.queries <= 3000 // batch + 3  # catch-up: one query per batch, not per row
    assert summary.propagations == len(validities(sqlite_dbs.engine("target"), "DcsAdTemp"))
