"""One initialised data directory per test run and server kind, copied into every throwaway server.

`mariadb-install-db` and `initdb` take seconds each (9 s and 8 s on the loaded 2-core box), and a run
made one per xdist worker plus one per private server (own_server, the logger's outage servers): a
dozen or more. Copying the directory the same binary initialised with the same options is what the
tool would have written again (no absolute path is kept in it), at a tenth of the cost.

The templates live under one directory per test run (named by its pytest process, shared by its
xdist workers); the first server to need one builds it under an exclusive lock, the others wait and copy. `remove_all`
deletes them at the end of the session."""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

# the run's pytest process: an xdist worker's parent is the controller that cleans up after the workers
_RUN = os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid()
ROOT = Path(tempfile.gettempdir()) / f"scraper-test-templates-{_RUN}"


def copy_into(datadir: str, key: tuple[str, ...], build: Callable[[str], None], owner: str | None = None) -> None:
    """Make `datadir` (absent) a copy of the template for `key` (the binary and its options), calling
    `build(path)` to initialise the template first if no server of this run has. `owner`: the system
    user the template's directory must belong to for `build` to write it (PostgreSQL's)."""
    ROOT.mkdir(mode=0o755, exist_ok=True)
    name = hashlib.sha256("\0".join(key).encode()).hexdigest()[:16]
    template = ROOT / name / "data"
    with open(ROOT / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if build raises
        if not template.exists():
            shutil.rmtree(ROOT / name, ignore_errors=True)  # a build that failed half-way
            (ROOT / name).mkdir(mode=0o755)
            if owner is not None:
                shutil.chown(ROOT / name, owner, owner)
            build(str(template))
    # cp -a keeps owner and modes (PostgreSQL refuses a data directory others may read)
    subprocess.run(["cp", "-a", str(template), datadir], check=True)


def remove_all() -> None:
    shutil.rmtree(ROOT, ignore_errors=True)
