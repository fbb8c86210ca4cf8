"""Refused device batches, kept with their reason in the `rejected` folder (one JSON file each).

Kept locally, not in the target: a batch is refused whatever the target's state, and a reply that did
not fit the regime is what its author needs to see to fix `parse`.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def keep(directory: Path, source: str, reason: str, reply: bytes, messages: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    body = {"source": source, "reason": reason, "reply": reply.decode("utf-8", "replace"),
            "messages": messages}
    n = 0
    while True:
        path = directory / (f"{stamp}.json" if n == 0 else f"{stamp}-{n}.json")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            break
        except FileExistsError:
            n += 1
    with os.fdopen(fd, "w") as f:
        json.dump(body, f, default=repr, indent=1)
    return path
