"""Helpers of the logger tests: config sections, the rows a target holds, and the rows the device's
replies should have become (the regime's own parse: what a never-down target holds)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from regimes.ricochet import Mmr3Bridge
from scraper.modes.logger.batches import unix_time

ROOT = Path(__file__).resolve().parents[1]


def write_cfg(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for name, keys in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {v}" for k, v in keys.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def mmr3_section(device_url: str, target: str, **keys: Any) -> dict[str, Any]:
    return {"regime": "regimes.ricochet:Mmr3", "mode": "logger", "device": device_url, "target": target,
            "sleep": "0.1s", "timeout": "5s", "metrics": "False", **keys}


def expected_mmr3(replies: list[bytes]) -> list[tuple]:
    """(time, channel, R, T) of every reading in these replies, sorted."""
    out = []
    for reply in replies:
        for m in Mmr3Bridge().parse(reply):
            out.append((float(unix_time(m["timestamp"])), m["channel"], m["R"], m["T"]))
    return sorted(out)


def mmr3_rows(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("mmr3"):
            return []
        rows = conn.execute(sa.text('SELECT time, channel, "R", "T" FROM mmr3'
                                    if engine.dialect.name != "mysql" else "SELECT time, channel, R, T FROM mmr3")).all()
    return sorted((float(t), int(c), float(r), float(tt)) for t, c, r, tt in rows)
