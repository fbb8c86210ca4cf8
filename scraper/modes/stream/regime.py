"""The stream regime API: what a physicist writes to ingest a new kind of message.

A stream regime names its message identity (`key`, fields of the decoded message, e.g. ("candid",)),
declares its target tables (`tables(metadata)`; the first holds one row per message and carries the
key columns, unique) and turns one decoded message into rows (`rows(message)`: table name -> list of
dicts); optionally it says when a message's data was taken (`time(message)`). The engine owns the rest: reading the topic, decoding, the positions, exactly once.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Mapping, Sequence

import sqlalchemy as sa

from scraper.config import Settings


class Invalid(ValueError):
    """A message that decodes but cannot be ingested (no key, a field of the wrong kind): rejected."""


class StreamRegime:
    """Base of a stream regime; subclasses set `key` and implement `tables` and `rows`."""

    key: ClassVar[tuple[str, ...]] = ()
    # Optional: a reader schema (path of an .avsc next to the regime) for `format = avro` messages
    # whose writer schema differs between versions; None keeps each message's own fields.
    faker: ClassVar[Any] = None

    @classmethod
    def tables(cls, metadata: sa.MetaData) -> Sequence[sa.Table]:
        """The target tables; the first is the message table, with the key columns unique."""
        raise NotImplementedError

    @classmethod
    def rows(cls, message: Mapping[str, Any]) -> Mapping[str, list[dict[str, Any]]]:
        """Rows per target table for one decoded message; raise Invalid (or KeyError, TypeError,
        ValueError) for a message that cannot be ingested: it is rejected, the section goes on."""
        raise NotImplementedError

    @classmethod
    def time(cls, message: Mapping[str, Any]) -> datetime | None:
        """Optional: when the message's data was taken (naive UTC), so a message dated beyond now +
        `future_tolerance` is rejected as not data yet (ahead.py); None (the default): no bound."""
        return None

    @classmethod
    def identity(cls, message: Mapping[str, Any]) -> tuple:
        """The message's key values; Invalid when one is missing or empty."""
        try:
            values = tuple(message[k] for k in cls.key)
        except (KeyError, TypeError):
            missing = [k for k in cls.key if not isinstance(message, Mapping) or k not in message]
            raise Invalid(f"no key field {', '.join(missing) or cls.key[0]}") from None
        if any(v is None for v in values):
            raise Invalid(f"key field {', '.join(cls.key)} is null")
        return values


def load_stream_regime(cfg: Settings) -> type[StreamRegime]:
    """`regime = package.module:Class` naming a StreamRegime, with the usual one-line failures."""
    import importlib

    spec = cfg.regime or ""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise cfg.error("regime", f'"{spec}" is not of the form package.module:RegimeClass')
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise cfg.error("regime", f'cannot import "{module_name}": {exc}') from None
    except Exception as exc:  # noqa: BLE001 - module-level code of the operator's regime failed
        raise cfg.error("regime", f'cannot import "{module_name}": {type(exc).__name__} at import: {exc}') from None
    kls = getattr(module, attr, None)
    if not (isinstance(kls, type) and issubclass(kls, StreamRegime)):
        raise cfg.error("regime", f'"{attr}" in {module_name} is not a stream regime (scraper.StreamRegime)')
    if not kls.key:
        raise cfg.error("regime", f'"{spec}" declares no message key (key = ("candid",))')
    return kls
