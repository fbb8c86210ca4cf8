"""`show`, `plot` and `report` against real scrapes of sources filled with raw SQL, on SQLite, MariaDB and PostgreSQL.

The report's promise is the strongest: each of its rows is what a real scrape with those settings
writes over the range (records) and how far the target it writes is from the source (fidelity), so
both are checked against real runs, the fidelity by a computation written independently here.
"""
from __future__ import annotations

import json
import math
import random
import struct
import subprocess
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from factories import PMT_CHANNELS, PT, create_adtemp, create_pmthv
from scraper import cli, commands
from scraper.look.plot import size_for
from support import Databases, scrape

SHANGHAI = timedelta(hours=8)  # Asia/Shanghai has no DST: local = UTC + 8 h
START = datetime(2011, 2, 1, 0, 0, 0)  # source-local time of the first entry
FROM = START - SHANGHAI + timedelta(minutes=5)  # UTC
TO = FROM + timedelta(hours=3)
ADTEMP = {"regime": "regimes.adtemp:AdTemp", "source_tz": "Asia/Shanghai", "interval": "10s",
          "maxage": "10m", "threshold": 0.5, "timefloor": f"{FROM + SHANGHAI:%Y-%m-%d %H:%M:%S}"}
PMTHV = {**ADTEMP, "regime": "regimes.pmthv:PmtHv", "interval": "30s", "maxage": "30m", "threshold": 1.0}


@pytest.fixture
def scr_here(monkeypatch, capsys):
    """`scr.py ARGS` run by the console script's own cli.main in this process, with the environment
    test_cli_errors.scr gives a real one (cwd, HOME, SCRAPER_MYCNF, no SCRAPER_CFG), as a
    CompletedProcess. For the many bad-input cases: what they prove is the one line and exit 2 that
    cli.main gives, which a process start-up (~0.5 s of CPU each) adds nothing to; each test keeps
    real `scr.py` processes for what an operator runs."""
    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        monkeypatch.chdir(cwd)
        monkeypatch.delenv("SCRAPER_CFG", raising=False)
        monkeypatch.setenv("HOME", str(cwd))
        monkeypatch.setenv("SCRAPER_MYCNF", str(cwd / "my.cnf"))
        capsys.readouterr()
        status = cli.main(list(args))
        printed = capsys.readouterr()
        return subprocess.CompletedProcess(["scr.py", *args], status, printed.out, printed.err)
    return run


def q(engine: sa.Engine, *names: str) -> str:
    """Names as the backend's own client needs them spelt: DCS tables and DBI columns are mixed-case,
    which PostgreSQL folds to lower case unless quoted (psql users write "DBNS_SAB_Temp"); SQLite and
    MariaDB accept the quoted form too, so one raw statement serves every backend."""
    quote = engine.dialect.identifier_preparer.quote_identifier
    return ", ".join(quote(n) for n in names)


def stamp(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}"  # SQLite's own text format, as DCS writers leave it


def fill_adtemp(engine: sa.Engine, n: int = 1500, seed: int = 3) -> None:
    """A random walk of five sensors every 10 s, with re-inserted twins and a 20-minute silence,
    written by plain INSERT statements."""
    create_adtemp(engine)
    rng, values, t, rows = random.Random(seed), [20.0, 21.0, 22.0, 23.0, 24.0], START, []
    for i in range(n):
        values = [round(v + rng.gauss(0, 0.12), 3) for v in values]
        rows.append({"dt": stamp(t), **dict(zip(PT, values))})
        if i % 101 == 50:
            rows.append(dict(rows[-1]))  # the DCS re-inserted the same reading
        t += timedelta(minutes=20) if i == 700 else timedelta(seconds=10)
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO {q(engine, 'DBNS_SAB_Temp')} ({q(engine, 'date_time', *PT)}) VALUES "
                             f"(:dt, {', '.join(':' + c for c in PT)})"), rows)


def fill_pmthv(engine: sa.Engine, n: int = 400, seed: int = 5) -> None:
    """Two detectors, 192 channels every 30 s drifting by ~0.07 V a step, one channel tripping off.

    The drift sets how often some channel of 192 moves past the threshold, so how many 192-row records
    a scrape writes: at ~0.3 V every entry made one at threshold 0.5 (720 records, 138 k payload rows,
    in each of the report test's real scrapes). What the tests prove (two chains, 192 rows a record,
    a trip, report rows == real scrapes) does not need that volume; at 0.07 V thresholds 0.5/1/2 give
    about 110/33/9-14 records over the report's 3 h, and maxage (30m or 1h) now changes the count at
    threshold 2, which it never did when every entry moved a channel past it."""
    create_pmthv(engine)
    rng = random.Random(seed)
    hv_sql = {ad: sa.text(f"INSERT INTO {q(engine, f'DBNS_{ad}_HV')} ({q(engine, 'id', 'date_time', *PMT_CHANNELS)}) VALUES "
                          f"(:id, :dt, {', '.join(':' + c for c in PMT_CHANNELS)})") for ad in ("AD1", "AD2")}
    pw_sql = {ad: sa.text(f"INSERT INTO {q(engine, f'DBNS_{ad}_HVPw')} "
                          f"({q(engine, 'id', 'date_time', *(c + '_Pw' for c in PMT_CHANNELS))})"
                          f" VALUES (:id, :dt, {', '.join(':' + c + '_Pw' for c in PMT_CHANNELS)})")
              for ad in ("AD1", "AD2")}
    with engine.begin() as conn:
        for ad in ("AD1", "AD2"):
            volts = {c: 1500.0 + k % 7 for k, c in enumerate(PMT_CHANNELS)}
            hv, pw = [], []
            for i in range(n):
                volts = {c: round(v + rng.gauss(0, 0.07), 2) for c, v in volts.items()}
                row = {"id": i + 1, "dt": stamp(START + i * timedelta(seconds=30))}
                hv.append({**row, **volts})
                pw.append({**row, **{f"{c}_Pw": int(not (c == "L3C2R5" and 150 <= i < 170)) for c in PMT_CHANNELS}})
            conn.execute(hv_sql[ad], hv)
            conn.execute(pw_sql[ad], pw)


def _database(backend: str, tmp: Path, role: str, request) -> str:
    """A fresh empty database of the backend (a file under tmp for SQLite), dropped with the fixture
    that asked for it."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / f'{role}.db'}"
    server = request.getfixturevalue(f"{backend}_server")
    name = f"look_{role}_{uuid.uuid4().hex[:12]}"
    server.create_database(name)
    request.addfinalizer(lambda: server.drop_database(name))
    return server.url(name)


def _scraped(request, tmp_path_factory, fill, keys: dict) -> Databases:
    tmp = tmp_path_factory.mktemp(f"{fill.__name__}_{request.param}")
    shared = Databases(request.param, tmp, _database(request.param, tmp, "source", request),
                       _database(request.param, tmp, "target", request))
    request.addfinalizer(shared.close)
    fill(shared.engine("source"))
    scrape(shared.settings(**keys))
    return shared


# The module's tests that only read a source and its target scraped with the section's own settings
# share one per backend (filling and scraping pmthv's 192-channel records was most of their time);
# the report tests' other real scrapes write a target of their own (own_target) from the same source.
@pytest.fixture(scope="module", params=["sqlite", "mariadb", "postgresql"])
def adtemp_scraped(request, tmp_path_factory) -> Databases:
    """fill_adtemp's source and a target scraped from it with ADTEMP: read, never written."""
    return _scraped(request, tmp_path_factory, fill_adtemp, ADTEMP)


@pytest.fixture(scope="module", params=["sqlite", "mariadb", "postgresql"])
def pmthv_scraped(request, tmp_path_factory) -> Databases:
    """fill_pmthv's source and a target scraped from it with PMTHV: read, never written."""
    return _scraped(request, tmp_path_factory, fill_pmthv, PMTHV)


def own_target(shared: Databases, tmp_path: Path, request) -> Databases:
    """The shared source with a fresh target of the same backend, for scrapes with other settings."""
    dbs = Databases(shared.backend, tmp_path, shared.source_url, _database(shared.backend, tmp_path, "own", request))
    request.addfinalizer(dbs.close)
    return dbs


def real_chain(engine: sa.Engine, kls: str) -> list[tuple]:
    """(SUBSITE, TIMESTART, TIMEEND, payload rows) of every record ending by TO, read with plain SQL."""
    with engine.connect() as conn:
        vld = conn.execute(sa.text(f"SELECT {q(engine, 'SEQNO', 'SUBSITE', 'TIMESTART', 'TIMEEND')} FROM "
                                   f"{q(engine, kls + 'Vld')} ORDER BY {q(engine, 'SUBSITE', 'TIMESTART')}")).all()
        rows = conn.execute(sa.text(f"SELECT * FROM {q(engine, kls)} ORDER BY {q(engine, 'SEQNO', 'ROW_COUNTER')}"))\
            .mappings().all()
    payload: dict[int, list[dict]] = {}
    for r in rows:
        payload.setdefault(r["SEQNO"], []).append(dict(r))
    out = []
    for seqno, subsite, start, end in vld:
        start, end = (datetime.fromisoformat(str(x)) for x in (start, end))
        if end <= TO:
            out.append((subsite, start, end, payload[seqno]))
    return out


def source_entries(engine: sa.Engine, table: str, columns: list[str]) -> list[tuple[datetime, list[float]]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {q(engine, 'date_time', *columns)} FROM {q(engine, table)} "
                                    "ORDER BY date_time, id")).all()
    out = []
    for r in rows:
        utc = datetime.fromisoformat(str(r[0])) - SHANGHAI
        if FROM <= utc <= TO:
            out.append((utc, [float(v) for v in r[1:]]))
    return out


def fidelity(entries, chain) -> list[tuple[float, float]]:
    """Per column (max, rms) of |value held at t - entry|: the record with TIMESTART <= t < TIMEEND, the
    last one also at its TIMEEND; entries after the last record are not held and not counted."""
    width = len(entries[0][1])
    top, squares, count = [0.0] * width, [0.0] * width, 0
    for t, values in entries:
        held = [rec for k, rec in enumerate(chain)
                if rec[0] <= t < rec[1] or (k == len(chain) - 1 and t == rec[1])]
        if not held:
            continue
        count += 1
        for c in range(width):
            d = abs(held[0][2][c] - values[c])
            top[c] = max(top[c], d)
            squares[c] += d * d
    return [(top[c], math.sqrt(squares[c] / count)) for c in range(width)]


GRID = {"threshold": "0.25,0.5,1", "maxage": "10m,1h", "interval": "10s,30s"}


def test_every_report_row_is_what_a_real_adtemp_scrape_writes(adtemp_scraped, tmp_path, request):
    """12 combinations replayed at once; for four of them (the configured one among them) a real
    scrape of the same range writes exactly that many records, and the fidelity the report gives
    for the configured settings is the one measured on the real target."""
    dbs = adtemp_scraped
    own = own_target(dbs, tmp_path, request)
    cfg = dbs.settings(**ADTEMP)
    rep = commands.report(cfg.path, cfg.section, None, start=stamp(FROM), end=stamp(TO),
                          thresholds=GRID["threshold"], maxages=GRID["maxage"], intervals=GRID["interval"])
    assert len(rep.rows) == 12 and sum(r.configured for r in rep.rows) == 1
    by_combo = {(r.threshold, r.maxage, r.interval): r for r in rep.rows}
    for threshold, maxage, interval in [(0.5, "10m", "10s"), (0.25, "1h", "10s"), (1, "1h", "30s"), (0.25, "10m", "30s")]:
        keys = {**ADTEMP, "threshold": threshold, "maxage": maxage, "interval": interval}
        if keys != ADTEMP:  # the configured settings' real scrape is the shared target
            scrape(own.settings(**keys), drop=True)
        chain = real_chain((dbs if keys == ADTEMP else own).engine("target"), "DcsAdTemp")
        row = by_combo[(threshold, timedelta(seconds=_secs(maxage)), timedelta(seconds=_secs(interval)))]
        assert row.records == len(chain), (threshold, maxage, interval)
        assert row.per_day == pytest.approx(len(chain) / (3 / 24))
        if (threshold, maxage, interval) == (0.5, "10m", "10s"):
            assert row.configured
            held = [(start, end, [rows[0][c] for c in PT]) for _sub, start, end, rows in chain]
            expected = fidelity(source_entries(dbs.engine("source"), "DBNS_SAB_Temp", PT), held)
            for c, (top, rms) in zip(PT, expected):
                assert row.deviation[c] == pytest.approx((top, rms), rel=1e-9, abs=1e-12)
    assert rep.columns == PT


def test_every_report_row_is_what_a_real_pmthv_scrape_writes(pmthv_scraped, tmp_path, request):
    """Two detectors (two validity chains), 192 channel rows per record, a tripped channel."""
    dbs = pmthv_scraped
    own = own_target(dbs, tmp_path, request)
    cfg = dbs.settings(**PMTHV)
    rep = commands.report(cfg.path, cfg.section, None, start=stamp(FROM), end=stamp(TO),
                          thresholds="0.5,1,2", maxages="30m,1h")
    by_combo = {(r.threshold, r.maxage): r for r in rep.rows}
    # the data lets maxage count (fill_pmthv): the real scrape at (2, 1h) checks a maxage-bound chain
    assert by_combo[(2.0, timedelta(hours=1))].records < by_combo[(2.0, timedelta(minutes=30))].records
    for threshold, maxage in [(1.0, "30m"), (2.0, "1h"), (0.5, "30m")]:
        keys = {**PMTHV, "threshold": threshold, "maxage": maxage}
        if keys != PMTHV:  # the configured settings' real scrape is the shared target
            scrape(own.settings(**keys), drop=True)
        chain = real_chain((dbs if keys == PMTHV else own).engine("target"), "DcsPmtHv")
        assert {sub for sub, *_ in chain} == {1, 2}
        assert by_combo[(threshold, timedelta(seconds=_secs(maxage)))].records == len(chain), (threshold, maxage)
        if threshold == 1.0:
            ad1 = [(start, end, [r["voltage"] for r in rows]) for sub, start, end, rows in chain if sub == 1]
            per_channel = fidelity(source_entries(dbs.engine("source"), "DBNS_AD1_HV", PMT_CHANNELS), ad1)
            top = by_combo[(1.0, timedelta(minutes=30))].deviation["voltage"][0]
            assert top >= max(t for t, _ in per_channel) - 1e-9  # AD1 alone is within both detectors' max
    assert "voltage" in rep.columns and "pw" in rep.columns  # the trip is a deviation of pw
    assert {"ladder", "col", "ring"} <= set(rep.quiet)


def _secs(text: str) -> int:
    return int(text[:-1]) * {"s": 1, "m": 60, "h": 3600}[text[-1]]


def test_report_writes_nothing_and_reads_each_source_once(sqlite_dbs):
    fill_adtemp(sqlite_dbs.engine("source"))
    cfg = sqlite_dbs.settings(**ADTEMP)
    source = Path(sqlite_dbs.source_url.removeprefix("sqlite:///"))
    before = _dump(source)
    statements = []

    def seen(_conn, _cursor, statement, *_rest):
        statements.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", seen)
    try:
        rep = commands.report(cfg.path, cfg.section, None, start=stamp(FROM), end=stamp(TO),
                              thresholds="0.25,0.5,1", maxages="10m,1h,2h")
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", seen)
    assert len(rep.rows) == 9
    selects = [s for s in statements if ("FROM \"DBNS_SAB_Temp\"" in s or "FROM DBNS_SAB_Temp" in s)
               and "typeof(" not in s]  # not the start-up look at how date_time is spelled (db/dialects.py)
    assert len([s for s in selects if "ORDER BY" in s]) == 1, selects  # the range, read once
    assert not any(s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "CREATE", "DROP")) for s in statements)
    assert _dump(source) == before
    assert not Path(sqlite_dbs.target_url.removeprefix("sqlite:///")).exists()  # no target needed


def _dump(path: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(path) as conn:  # the contents: db.connect switches a SQLite file to WAL, as a scrape does
        return list(conn.iterdump())


def _vld(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [(s, datetime.fromisoformat(str(a)), datetime.fromisoformat(str(b))) for s, a, b in
                conn.execute(sa.text(f"SELECT {q(engine, 'SEQNO', 'TIMESTART', 'TIMEEND')} FROM "
                                     f"{q(engine, 'DcsAdTempVld')} ORDER BY {q(engine, 'TIMESTART')}"))]


def test_show_at_a_time_is_the_record_a_consumer_reads(adtemp_scraped):
    dbs = adtemp_scraped
    cfg = dbs.settings(**ADTEMP)
    vld = _vld(dbs.engine("target"))
    seqno, start, end = vld[10]
    inside = commands.show(cfg, at=stamp(start + (end - start) / 2))
    (rec,) = inside.records
    assert (rec.seqno, rec.timestart, rec.timeend) == (seqno, start, end)
    target = dbs.engine("target")
    with target.connect() as conn:
        payload = conn.execute(sa.text(f"SELECT {q(target, *PT)} FROM {q(target, 'DcsAdTemp')} "
                                       f"WHERE {q(target, 'SEQNO')} = {seqno}")).one()
    assert [rec.rows[0][c] for c in PT] == pytest.approx(list(payload))
    assert commands.show(cfg, at=stamp(end)).records[0].seqno == vld[11][0]  # TIMEEND belongs to the next
    assert commands.show(cfg, at=stamp(vld[-1][2])).records[0].seqno == vld[-1][0]  # ... but for the last
    local = commands.show(cfg, at=stamp(start + SHANGHAI), local=True)
    assert local.records[0].seqno == seqno
    listed = commands.show(cfg, start=stamp(vld[3][1]), end=stamp(vld[6][1]), fmt="json")
    data = json.loads(listed.text())
    assert [r["SEQNO"] for r in data["records"]] == [v[0] for v in vld[2:7]]  # overlapping, ends touching
    assert data["records"][1]["rows"][0].keys() == set(PT)
    text = commands.show(cfg, at=stamp(start)).text().splitlines()
    assert text[0] == f"[test] DcsAdTemp: valid at {stamp(start)} UTC"
    assert text[1].split() == ["SEQNO", "TIMESTART", "TIMEEND", "SITEMASK", "SUBSITE", "ROW", *PT]
    assert text[2].split()[:3] == [str(seqno), f"{start:%Y-%m-%d}", f"{start:%H:%M:%S}"]


def test_show_csv_has_every_channel_of_both_detectors(pmthv_scraped):
    cfg = pmthv_scraped.settings(**PMTHV)
    lines = commands.show(cfg, at=stamp(FROM + timedelta(hours=1)), fmt="csv").text().splitlines()
    assert lines[0] == "SEQNO,TIMESTART,TIMEEND,SITEMASK,SUBSITE,ROW,ladder,col,ring,voltage,pw"
    assert len(lines) == 1 + 2 * 192
    assert {line.split(",")[4] for line in lines[1:]} == {"1", "2"}


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", head
    return struct.unpack(">II", head[16:24])


def test_plot_writes_a_png_of_the_expected_size(adtemp_scraped, tmp_path):
    cfg = adtemp_scraped.settings(**ADTEMP)
    done = commands.plot(cfg, start=stamp(FROM), end=stamp(TO), out=str(tmp_path / "adtemp.png"))
    assert png_size(tmp_path / "adtemp.png") == done.size == size_for(5) == (1200, 660)  # 5 panels, 2 columns
    assert done.records > 10 and done.entries > 900
    one = commands.plot(cfg, start=stamp(FROM), end=stamp(TO), out=str(tmp_path / "pt3.png"), columns=["Temp_PT3"])
    assert png_size(tmp_path / "pt3.png") == (1200, 260) and [s.column for s in one.shown] == ["Temp_PT3"]


def test_plot_of_192_channels_is_small_multiples_of_a_chosen_subset(pmthv_scraped, tmp_path):
    cfg = pmthv_scraped.settings(**PMTHV)
    every = commands.plot(cfg, start=stamp(FROM), end=stamp(TO), out=str(tmp_path / "all.png"))
    assert (len(every.shown), every.available) == (16, 2 * 192 * 2)  # voltage and pw vary, channels do not
    assert png_size(tmp_path / "all.png") == (1200, 1660)
    some = commands.plot(cfg, start=stamp(FROM), end=stamp(TO), out=str(tmp_path / "some.png"),
                         columns=["voltage"], rows="1-2")
    assert [(s.context.subsite, s.row) for s in some.shown] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert "ladder=1, col=1, ring=2" in some.shown[1].label
    assert png_size(tmp_path / "some.png") == (1200, 860)


@pytest.mark.parametrize("seed", range(6))
def test_replayed_chain_is_the_real_chain_for_random_settings_and_data(sqlite_dbs, seed):
    """Random data (a walk with twins and a silence) and random settings, offset included: the chain
    the report replays is record for record (times and payload) the one a real scrape writes."""
    from scraper.config.plugins import load_regime
    from scraper.look import entries, report

    rng = random.Random(seed)
    fill_adtemp(sqlite_dbs.engine("source"), n=rng.randint(300, 900), seed=seed)
    settings = {**ADTEMP, "threshold": rng.choice([0.1, 0.3, 0.6]), "maxage": rng.choice(["1m", "5m", "25m"]),
                "interval": rng.choice(["10s", "20s", "1m"]), "offset": rng.choice([0, 0, 1, 3])}
    cfg = sqlite_dbs.settings(**settings)
    scrape(cfg)
    real = [(start, end, tuple(rows[0][c] for c in PT)) for _s, start, end, rows in
            real_chain(sqlite_dbs.engine("target"), "DcsAdTemp")]
    regime = load_regime(cfg)
    local = FROM + SHANGHAI
    (data,) = entries.read(cfg, regime, local, TO + SHANGHAI)
    chain = report.replay(cfg, regime, data, local)
    replayed = [(s, e, tuple(p[0][c] for c in PT)) for s, e, p in zip(chain.starts, chain.ends, chain.payloads)]
    assert replayed == real, settings
    assert len(real) > 3, settings
