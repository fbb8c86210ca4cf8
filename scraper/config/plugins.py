"""Turning `regime = package.module:Class` into the Regime class, with operator-readable failures."""
from __future__ import annotations

import importlib

from scraper.config import Settings
from scraper.api import Regime


def load_regime(cfg: Settings, need_target: bool = True) -> type[Regime]:
    """`need_target=False` for modes that work on the source alone (the decimator thins it in place)."""
    spec = cfg.regime
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise cfg.error("regime", f'"{spec}" is not of the form package.module:RegimeClass')
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
