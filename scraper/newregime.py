"""`scr.py new-regime NAME`: a working regime to start from — module, config sections and a test.

A physicist's first regime should run before they change a line: the module declares a fake source
table, a change rule and a propagate(); the config file has a faker and a scraper section on SQLite
files under var/; the test calls the regime test kit (scraper.testing). Nothing is overwritten.
"""
from __future__ import annotations

import keyword
import re
from pathlib import Path
from string import Template

from scraper.errors import OperatorError

TEMPLATES = Path(__file__).with_name("templates")
FILES = {"regime.py.tmpl": "{name}.py", "regime.cfg.tmpl": "{name}.cfg", "test_regime.py.tmpl": "test_{name}.py"}


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def new_regime(name: str, dest: str = ".") -> list[Path]:
    """Write the three files for regime `name` into `dest`; the paths written."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise OperatorError(f'scr.py new-regime: "{name}" is not a module name (lower case letters, digits, _)')
    out = Path(dest)
    if not out.is_dir():
        raise OperatorError(f"scr.py new-regime: {out} is not a directory")
    paths = {tmpl: out / target.format(name=name) for tmpl, target in FILES.items()}
    present = [str(p) for p in paths.values() if p.exists()]
    if present:
        raise OperatorError(f"scr.py new-regime: {', '.join(present)} exist(s): nothing written")
    values = {"name": name, "Class": class_name(name), "table": f"DBNS_{class_name(name)}",
              "kls": f"Dcs{class_name(name)}"}
    for tmpl, path in paths.items():
        path.write_text(Template((TEMPLATES / tmpl).read_text()).substitute(values))
    return list(paths.values())
