"""What every benchmark of `make bench` shares: the header of its JSON, writing it, and the throwaway
database servers of the test suite (tests/mariadb_server.py, tests/postgresql_server.py)."""
from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SERVERS = {"mariadb": ("mariadb_server", "MariaDBServer"), "postgresql": ("postgresql_server", "PostgreSQLServer")}


def header(args: Any, **lists: list) -> dict[str, Any]:
    """The run's arguments and machine, then the named (empty) result lists."""
    return {"args": vars(args), "python": sys.version.split()[0], "cpus": os.cpu_count(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), **lists}


def write_json(path: str, results: dict[str, Any]) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")


def server(backend: str):
    """A started-on-entry throwaway server of `backend` (mariadb, postgresql), as the tests use."""
    sys.path.insert(0, str(ROOT / "tests"))
    module, cls = SERVERS[backend]
    return getattr(importlib.import_module(module), cls)()
