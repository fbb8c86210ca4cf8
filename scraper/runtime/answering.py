"""`scr.py status` answers within 10 s whatever the servers do.

A stopped server (SIGSTOP, a frozen VM, a black-holed network) lets status connect and then never
answers; asked section after section, it would hang status for as long as the driver's limits allow.
So first every distinct server the sections name is asked something trivial on a fresh connection, all at
once and within PROBE_S (db/limits.answers); a section whose database does not answer is shown as such
(ERROR, naming the key and the database) without being asked anything more. The other sections are
then looked at side by side, and whatever has not finished by DEADLINE_S is shown as not answering too.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, TypeVar

import sqlalchemy as sa

from scraper import db, modes
from scraper.config import Settings
from scraper.db import limits
from scraper.errors import OperatorError

PROBE_S = 3.0
DEADLINE_S = 8.0  # from the start of status: the table is printed well within 10 s
T = TypeVar("T")


def silent_databases(path: str, names: list[str]) -> dict[str, tuple[str, str]]:
    """{section: (mode, why)} for the sections one of whose databases does not answer within PROBE_S."""
    wanted: dict[str, list[tuple[Settings, str, str, sa.URL]]] = {}
    for name in names:
        try:
            cfg = modes.settings(path, name)
            for key in ("source", "target"):
                if cfg.get(key):
                    url = db.resolve_url(cfg, key)
                    if url.get_backend_name() != "sqlite":
                        wanted.setdefault(name, []).append((cfg, key, db.show(url), url))
        except OperatorError:
            continue  # the section's own status says what is wrong with it
    servers = {shown: url for pairs in wanted.values() for _, _, shown, url in pairs}
    verdicts = side_by_side(list(servers), lambda shown: _probe(servers[shown]), PROBE_S + 1.5,
                            lambda shown: f"no answer within {PROBE_S:.0f}s")
    silent: dict[str, tuple[str, str]] = {}
    for name, pairs in wanted.items():
        for cfg, key, shown, _url in pairs:
            if verdicts[shown] is not None:
                silent[name] = (cfg.mode, str(cfg.error(key, f"{shown} does not answer: {verdicts[shown]}")))
                break
    return silent


def _probe(url: sa.URL) -> str | None:
    try:
        engine = sa.create_engine(url)
    except Exception:  # noqa: BLE001 - a URL the driver refuses: the section's own status says why
        return None
    try:
        return limits.answers(engine, PROBE_S)
    finally:
        engine.dispose()


def side_by_side(items: list[str], fn: Callable[[str], T], within: float, late: Callable[[str], T]) -> dict[str, T]:
    """{item: fn(item)}, all run at once on daemon threads; an item not done `within` seconds gets
    late(item) (its thread is left waiting on its server; it ends with the process)."""
    results: dict[str, T] = {}
    failures: list[BaseException] = []
    lock = threading.Lock()

    def one(item: str) -> None:
        try:
            value = fn(item)
        except BaseException as exc:  # a bug: raised in the caller's thread, not lost with this one
            failures.append(exc)
            return
        with lock:
            results[item] = value

    threads = [threading.Thread(target=one, args=(item,), daemon=True, name=f"status-{item[:20]}") for item in items]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + within
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    if failures:
        raise failures[0]
    with lock:
        return {item: results[item] if item in results else late(item) for item in items}
