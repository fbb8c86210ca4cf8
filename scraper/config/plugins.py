"""Turning `regime = package.module:Class` into the Regime class, with operator-readable failures."""
from __future__ import annotations

import importlib
import os
import sys

from scraper.config import Settings
from scraper.api import Regime


def importable_here(cfg: Settings) -> None:
    """A regime written next to its config file (`scr.py new-regime`) or in the directory scr.py runs
    from imports whatever started Python: `python -m scraper` puts the current directory on the path,
    the console script does not. Appended, so an installed package of the same name still wins."""
    for directory in (str(cfg.base_dir), os.getcwd()):
        if directory not in sys.path:
            sys.path.append(directory)


def load_regime(cfg: Settings, need_target: bool = True) -> type[Regime]:
    """`need_target=False` for modes that work on the source alone (the decimator thins it in place)."""
    spec = cfg.regime
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise cfg.error("regime", f'"{spec}" is not of the form package.module:RegimeClass')
    importable_here(cfg)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise cfg.error("regime", f'cannot import "{module_name}": {exc}') from None
    except SyntaxError as exc:  # the regime's own file: say where, not a traceback
        raise cfg.error("regime", f'cannot import "{module_name}": SyntaxError: {exc.msg} '
                        f"({exc.filename}, line {exc.lineno})") from None
    except Exception as exc:  # noqa: BLE001 - module-level code of the operator's regime failed
        raise cfg.error("regime", f'cannot import "{module_name}": {type(exc).__name__} at import: {exc}') from None
    kls = getattr(module, attr, None)
    if not (isinstance(kls, type) and issubclass(kls, Regime)):
        raise cfg.error("regime", f'"{attr}" in {module_name} is not a scraper.Regime subclass')
    if not getattr(kls, "sources", None) or (need_target and getattr(kls, "target", None) is None):
        raise cfg.error("regime", f'"{spec}" declares no sources or no target')
    return kls
