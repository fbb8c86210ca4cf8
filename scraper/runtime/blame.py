"""Telling a regime's own failure from ours: the traceback says whose code raised.

A regime is user code (a physicist's module, maybe outside this repository). When an exception
escapes one of its methods while the engine handles an entry, the operator needs to know which
method, on which entry — not a traceback into the engine. Our own bugs keep their traceback.
"""
from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import scraper
from scraper.errors import RegimeError

ENGINE = Path(scraper.__file__).resolve().parent


def _user_frames(tb: TracebackType | None) -> list[str]:
    """Names of the functions in the traceback that are outside the scraper package and the stdlib."""
    names, stdlib = [], Path(sys.base_prefix).resolve()
    while tb is not None:
        path = Path(tb.tb_frame.f_code.co_filename).resolve()
        if not path.is_relative_to(ENGINE) and not path.is_relative_to(stdlib) and "site-packages" not in path.parts:
            names.append(tb.tb_frame.f_code.co_qualname)
        tb = tb.tb_next
    return names


def regime_failure(exc: BaseException, regime: Any, entry: Any, source: str) -> RegimeError | None:
    """A RegimeError describing `exc` if it escaped the regime's code, else None (our bug)."""
    frames = _user_frames(exc.__traceback__)
    if not frames:
        return None
    owner = getattr(regime, "__name__", type(regime).__name__)
    where = f"{source} entry"
    if entry is not None:
        where += f" id={entry.get('id')} at {entry.get('date_time')} (source-local)"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return RegimeError(f"regime {regime.__module__}:{owner}: {frames[0]}() failed on {where}: "
                       f"{type(exc).__name__}: {text}".rstrip(": "))
