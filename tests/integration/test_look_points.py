"""`show` and `plot` on bridge and decimator sections made by real runs: what they print is checked
against the source (bridge) or the thinned table (decimator) read back with plain SQL, the CSV and
JSON parsed, the PNG read back from its header; the console script is run as a real process too."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import decimation as d
from factories import PMT_CHANNELS, PT
from scraper import commands
from test_cli_errors import one_line_error, scr
from test_look import ADTEMP, SHANGHAI, START, fill_adtemp, fill_pmthv, png_size, q, scr_here, stamp  # noqa: F401

EPOCH = datetime(1970, 1, 1)
BRIDGE = {"regime": "regimes.adtemp:AdTemp", "mode": "bridge", "source_tz": "Asia/Shanghai",
          "timefloor": ADTEMP["timefloor"]}


def bridge(dbs, tmp_path: Path, **keys):
    cfg = dbs.settings(**{**BRIDGE, "target": f"sqlite:///{tmp_path / 'live.db'}", **keys})
    commands.run(cfg, catchup=True)
    return cfg


def entries(engine: sa.Engine, table: str, columns: list[str]) -> list[tuple[datetime, list]]:
    """(UTC time, values) of every source entry from the timefloor on, in (date_time, id) order."""
    floor = datetime.fromisoformat(ADTEMP["timefloor"])
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {q(engine, 'date_time', *columns)} FROM {q(engine, table)} "
                                    "ORDER BY date_time, id")).all()
    return [(t - SHANGHAI, list(r[1:])) for r in rows if (t := datetime.fromisoformat(str(r[0]))) >= floor]


def test_show_on_a_bridge_gives_the_bridged_entries_at_or_last_before_a_time(dbs, tmp_path):
    fill_adtemp(dbs.engine("source"))
    cfg = bridge(dbs, tmp_path)
    source = entries(dbs.engine("source"), "DBNS_SAB_Temp", PT)
    twin = next(t for k, (t, _) in enumerate(source) if k and source[k - 1][0] == t)  # a re-inserted reading
    between = twin + timedelta(seconds=7)  # after the twin, before the next entry
    for at in (twin, between):
        shown = commands.show(cfg, at=stamp(at))
        assert [(p.time, [p.values[c] for c in PT]) for p in shown.points] == \
            [(t, v) for t, v in source if t == twin]
        assert len(shown.points) == 2 and {p.unix for p in shown.points} == {(twin - EPOCH).total_seconds()}
    lines = commands.show(cfg, at=stamp(between + SHANGHAI), local=True).text().splitlines()
    assert lines[0] == f"[test] bridge {tmp_path / 'live.db'}: rows at or last before {stamp(between)} UTC per table " \
                       "(LOCAL: Asia/Shanghai)"
    assert lines[1].split() == ["TABLE", "time", "UTC", "LOCAL", *PT]
    assert lines[2].split()[:5] == ["DBNS_SAB_Temp", str(int((twin - EPOCH).total_seconds())), *stamp(twin).split(),
                                    *stamp(twin + SHANGHAI).split()[:1]]
    start, end = source[100][0], source[400][0]
    listed = list(csv.DictReader(io.StringIO(commands.show(cfg, start=stamp(start), end=stamp(end), fmt="csv").text())))
    inside = [(t, v) for t, v in source if start <= t <= end]
    assert [(datetime.fromisoformat(r["UTC"]), [float(r[c]) for c in PT]) for r in listed] == inside
    data = json.loads(commands.show(cfg, start=stamp(start), end=stamp(end), fmt="json", columns=["Temp_PT2"]).text())
    assert (data["mode"], data["from"], data["to"]) == ("bridge", stamp(start), stamp(end))
    assert [(r["time"], r["values"]) for r in data["rows"]] == \
        [((t - EPOCH).total_seconds(), {"Temp_PT2": v[1]}) for t, v in inside]


def test_plot_of_a_bridge_and_of_pmthvs_channel_rows(dbs, tmp_path):
    """adtemp: one panel per sensor. pmthv: a channel is the k-th row of each instant, labelled by its
    ladder/col/ring; both detectors' tables; the PNG is read back."""
    fill_adtemp(dbs.engine("source"), n=600)
    cfg = bridge(dbs, tmp_path)
    start, end = START - SHANGHAI, START - SHANGHAI + timedelta(hours=1)
    done = commands.plot(cfg, start=stamp(start), end=stamp(end), out=str(tmp_path / "adtemp.png"))
    assert png_size(tmp_path / "adtemp.png") == done.size == (1200, 660)
    bridged = [t for t, _ in entries(dbs.engine("source"), "DBNS_SAB_Temp", PT) if start <= t <= end]
    assert [s.column for s in done.shown] == PT and done.points == len(bridged)
    fill_pmthv(dbs.engine("source"), n=180)  # 90 minutes, a channel tripping off after 75
    end += timedelta(hours=1)
    pm = bridge(dbs, tmp_path, regime="regimes.pmthv:PmtHv", target=f"sqlite:///{tmp_path / 'pmthv.db'}")
    shown = commands.show(pm, at=stamp(START - SHANGHAI + timedelta(minutes=20, seconds=10)))
    assert [p.table for p in shown.points] == ["DBNS_AD1_HV"] * 192 + ["DBNS_AD2_HV"] * 192
    with dbs.engine("source").connect() as conn:
        src = dbs.engine("source")
        volts = conn.execute(sa.text(f"SELECT {q(src, *PMT_CHANNELS)} FROM {q(src, 'DBNS_AD2_HV')} WHERE id = 41")).one()
    assert [p.values["voltage"] for p in shown.points[192:]] == list(volts)  # entry 41 is at 20 minutes
    every = commands.plot(pm, start=stamp(start), end=stamp(end), out=str(tmp_path / "all.png"))
    assert (len(every.shown), every.available) == (16, 2 * 192 * 2)  # voltage and pw (a trip) vary per channel
    assert png_size(tmp_path / "all.png") == (1200, 1660)
    some = commands.plot(pm, start=stamp(start), end=stamp(end), out=str(tmp_path / "some.png"),
                         columns=["voltage"], rows="1-2")
    assert [(s.table, s.row) for s in some.shown] == [("DBNS_AD1_HV", 1), ("DBNS_AD1_HV", 2),
                                                      ("DBNS_AD2_HV", 1), ("DBNS_AD2_HV", 2)]
    assert "ladder=1, col=1, ring=2" in some.shown[1].label
    assert png_size(tmp_path / "some.png") == some.size == (1200, 860)
    assert some.text() == f"[test] wrote {tmp_path / 'some.png'} (1200x860 px): 4 series, " \
                          f"{every.points} bridged rows from 2 tables"


T0 = datetime(2020, 11, 4, 9, 3, 1, 269367)
KEEP, EVERY = timedelta(minutes=2), timedelta(seconds=10)
DECIMATOR = {"regime": "regimes.cbpm3:Cbpm3", "mode": "decimator", "keep": "2m", "every": "10s", "batch": 250,
             "source_tz": "UTC"}


@pytest.fixture
def thinned(dbs):
    """5 minutes of 3 instruments at 10 Hz, thinned by a real decimator run: (settings, engine, data)."""
    src = dbs.engine("source")
    d.create_table(src)
    d.insert(src, d.ten_hz(T0, 300))
    cfg = dbs.settings(**DECIMATOR)
    commands.run(cfg, catchup=True, allow_create=True)
    return cfg, src


def test_show_on_a_decimator_is_the_thinned_table_with_its_parts(thinned, tmp_path):
    cfg, src = thinned
    left = d.rows(src)  # what thinning left, read back with plain SQL
    horizon = d.slice_of(max(r[1] for r in left) - KEEP, EVERY)

    def last_before(at):
        return sorted((max((r for r in left if r[2] == g and r[1] <= at), key=lambda r: (r[1], r[0]))
                       for g in ("10AE", "12W", "15E")), key=lambda r: (r[1], r[0]))

    for at, part in ((T0 + timedelta(seconds=75), "thinned"), (horizon + timedelta(seconds=30.05), "full")):
        shown = commands.show(cfg, at=f"{at}")
        assert [(p.values["id"], p.time, p.values["instr"], p.part) for p in shown.points] == \
            [(r[0], r[1], r[2], part) for r in last_before(at)]
    start, end = horizon - timedelta(seconds=30), horizon + timedelta(seconds=2)
    data = json.loads(commands.show(cfg, start=f"{start}", end=f"{end}", fmt="json").text())
    assert [(r["values"]["id"], r["part"]) for r in data["rows"]] == \
        [(r[0], "thinned" if r[1] < horizon else "full")
         for r in sorted(left, key=lambda r: (r[1], r[0])) if start <= r[1] <= end]
    assert f"before {horizon:%Y-%m-%d %H:%M:%S} UTC" in data["notes"][0]
    table = commands.show(cfg, start=f"{start}", end=f"{end}").text().splitlines()
    assert table[0].endswith(f"({3 * 3} thinned, {len(data['rows']) - 9} full)")  # 3 slices x 3 instruments
    assert table[2].split() == ["UTC", "id", "instr", *d.CHANNELS, "part"]
    # newer entries move the keep boundary: what lies behind it and is not thinned yet is `pending`
    d.insert(src, d.ten_hz(T0 + timedelta(seconds=300), 60, first_id=10**6))
    parts = {p.part for p in commands.show(cfg, start=f"{horizon}", end=f"{horizon + timedelta(seconds=50)}").points}
    assert parts == {"pending"}


def real_on_sqlite(dbs, scr_here):
    """`scr.py` as a real process on SQLite, else cli.main in this process (scr_here): what a process
    adds (the console script, argv, exit status, stdout) does not depend on the backend, and each start
    costs ~0.5-1 s of CPU (matplotlib for plot); every backend still runs one real `show` process,
    the command an operator points at that database."""
    return scr if dbs.backend == "sqlite" else scr_here


def test_plot_of_a_decimator_and_the_console_script(thinned, dbs, tmp_path, scr_here):
    cfg, _src = thinned
    run = real_on_sqlite(dbs, scr_here)
    span = [f"{T0}", f"{T0 + timedelta(minutes=5)}"]
    done = commands.plot(cfg, start=span[0], end=span[1], out=str(tmp_path / "all.png"))
    assert [s.column for s in done.shown] == list(d.CHANNELS)
    assert png_size(tmp_path / "all.png") == done.size == (1200, 860)
    one = commands.plot(cfg, start=span[0], end=span[1], out=str(tmp_path / "top.png"), columns=["top_in"])
    assert png_size(tmp_path / "top.png") == (1200, 260) and "keep boundary" in one.text()
    proc = scr("show", "--cfg", str(cfg.path), "-s", "test", "--from", *span[:1], "--to", span[1], "--format", "csv",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    listed = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(listed) == done.points and {r["part"] for r in listed} == {"thinned", "full"}
    proc = run("plot", "--cfg", str(cfg.path), "-s", "test", "--from", span[0], "--to", span[1], "--columns",
               "top_in,bot_in", "--out", str(tmp_path / "cli.png"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"[test] wrote {tmp_path / 'cli.png'} (1200x460 px): 2 series, ")
    assert png_size(tmp_path / "cli.png") == (1200, 460)
    # bad input: one line naming the file, section and flag, exit 2 (the first from a real process on SQLite)
    for k, (args, key, words) in enumerate([
        (["show", "--at", "2020-11-05 00:00"], "--at", ["outside the data", "the decimator cbpm3_data covers"]),
        (["show", "--from", span[1], "--to", span[0]], "--from", ["is after --to"]),
        (["plot", "--from", *span[:1], "--to", span[1], "--out", "nodir/x.png"], "--out", ["does not exist"]),
        (["plot", "--from", *span[:1], "--to", span[1], "--out", "x.png", "--rows", "1"], "--rows", ["one row per"]),
        (["plot", "--from", *span[:1], "--to", span[1], "--out", "x.png", "--columns", "id"], "--columns", ["not among"]),
        (["report", "--from", *span[:1], "--to", span[1]], "mode", ["mode decimator"]),
    ]):
        line = one_line_error((scr_here if k else run)(args[0], "--cfg", str(cfg.path), "-s", "test", *args[1:],
                                                      cwd=tmp_path))
        assert line.startswith(f"{cfg.path} [test] {key}: ") and all(w in line for w in words), line
    assert not (tmp_path / "x.png").exists()


def test_the_console_script_on_a_bridge_section(dbs, tmp_path, scr_here):
    """A real `scr.py show` process prints JSON a script can parse; bad input is one line, exit 2 (the
    first case from a real process on SQLite, the others from cli.main in this one)."""
    fill_adtemp(dbs.engine("source"), n=100)
    cfg = bridge(dbs, tmp_path)
    proc = scr("show", "--cfg", str(cfg.path), "-s", "test", "--from", "2011-02-01 00:06", "--to", "2011-02-01 00:07",
               "--format", "json", "--local", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["rows"]  # --local: the range is source time, 8 h ahead of UTC
    assert [r["local"] for r in rows] == [f"2011-02-01 00:06:{s:02d}" for s in range(0, 60, 10)] + ["2011-02-01 00:07:00"]
    assert [r["utc"] for r in rows] == [f"2011-01-31 16:06:{s:02d}" for s in range(0, 60, 10)] + ["2011-01-31 16:07:00"]
    for k, (args, key, words) in enumerate([
        (["show", "--at", "2011-03-01"], "--at", ["outside the data", "covers 2011-01-31 16:05:00"]),
        (["show", "--from", "2012-01-01", "--to", "2012-01-02"], "--from", ["no row between"]),
        (["show", "--at", "2011-01-31 16:10", "--format", "xml"], "--format", ['"xml" is not a format']),
        (["plot", "--from", "2011-01-31 16:00", "--to", "2011-01-31 17:00", "--out", "."], "--out", ["directory"]),
        (["report", "--from", "2011-01-31 16:00", "--to", "2011-01-31 17:00"], "mode", ["mode bridge"]),
        (["show", "--at", "2011-01-31 16:10", "--target", "sqlite:///none.db"], "--target", ["does not exist"]),
    ]):
        line = one_line_error((scr_here if k else real_on_sqlite(dbs, scr_here))(
            args[0], "--cfg", str(cfg.path), "-s", "test", *args[1:], cwd=tmp_path))
        # a section key's value typed after scr.py is blamed on the command line; the verb's own options
        # (--at, --from, --format, --out) on the section they were applied to
        where = "command line" if key == "--target" else cfg.path
        assert line.startswith(f"{where} [test] {key}: ") and all(w in line for w in words), line
