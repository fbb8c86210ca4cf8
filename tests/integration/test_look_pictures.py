"""What the PNGs of `plot` and `report --out` say to a reader: value axes labelled with the units the
regime declares, and a report chart whose labels neither overlap nor leave the picture."""
from __future__ import annotations

import itertools

import matplotlib.text
from PIL import Image

from scraper import commands
from scraper.look import plot as look_plot
from support import scrape
from test_look import ADTEMP, FROM, TO, fill_adtemp, stamp

UNITLESS = '''
import sqlalchemy as sa
from scraper import Target
from regimes.adtemp import PT, AdTemp


class Unitless(AdTemp):
    target = Target("DcsAdTemp", **{c: sa.Float for c in PT})
'''


def panels(png) -> list[str]:
    """`label: unit` per panel, from the PNG's own description (its tEXt chunk)."""
    with Image.open(png) as image:
        return image.text["Description"].splitlines()


def test_plot_axes_carry_the_units_the_regime_declares(sqlite_dbs, tmp_path, monkeypatch):
    fill_adtemp(sqlite_dbs.engine("source"), n=600)
    cfg = sqlite_dbs.settings(**ADTEMP)
    scrape(cfg)
    commands.plot(cfg, start=stamp(FROM), end=stamp(TO), out=str(tmp_path / "degC.png"))
    assert panels(tmp_path / "degC.png") == [f"Temp_PT{i}: degC" for i in range(1, 6)]
    (tmp_path / "unitless.py").write_text(UNITLESS)  # the same regime, declaring no units
    monkeypatch.syspath_prepend(str(tmp_path))
    bare = sqlite_dbs.settings(**{**ADTEMP, "regime": "unitless:Unitless"})
    commands.plot(bare, start=stamp(FROM), end=stamp(TO), out=str(tmp_path / "bare.png"))
    assert panels(tmp_path / "bare.png") == [f"Temp_PT{i}: -" for i in range(1, 6)]


def test_report_chart_labels_neither_overlap_nor_leave_the_picture(sqlite_dbs, tmp_path):
    """Nine combinations, several landing on nearly the same point: every text of the chart (point
    labels, axis labels, ticks, legend, title) is drawn apart from every other and inside the PNG."""
    fill_adtemp(sqlite_dbs.engine("source"), n=1500)
    path = sqlite_dbs.write_cfg({"s": ADTEMP})
    report = commands.report(str(path), "s", {}, start=stamp(FROM), end=stamp(TO), thresholds="0.25,0.5,1",
                             maxages="10m,1h,2h", out=str(tmp_path / "r.png"))
    assert report.text().splitlines()[-1] == f"[s] wrote {tmp_path / 'r.png'}"
    assert panels(tmp_path / "r.png") == ["RMS deviation (degC)", "max deviation (degC)"]
    fig = look_plot.report_chart(report, "degC")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    undrawn = {id(tick.label1) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)  # ticks beyond the limits
               for tick, loc in zip(axis.get_major_ticks(), axis.get_majorticklocs())
               if not min(axis.get_view_interval()) <= loc <= max(axis.get_view_interval())}
    texts = [t for t in fig.findobj(matplotlib.text.Text)
             if t.get_visible() and t.get_text().strip() and id(t) not in undrawn]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    labels = [t for t, _ in boxes if " / " in t and "UTC" not in t]
    assert len(labels) >= 3, labels  # the point labels are there to be checked
    picture = fig.bbox
    for text, box in boxes:
        assert picture.x0 <= box.x0 and box.x1 <= picture.x1 and picture.y0 <= box.y0 and box.y1 <= picture.y1, \
            f"{text!r} is clipped"
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        assert not box_a.overlaps(box_b), f"{a!r} overlaps {b!r}"
    import matplotlib.pyplot as plt

    plt.close(fig)
