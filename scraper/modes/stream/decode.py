"""Bytes of a Kafka message -> the decoded message (a dict), or Invalid with the reason.

`format = avro`: each message is an Avro object container file carrying its writer's schema, as ZTF
sends alerts, so alerts of every schema version decode with no configuration. With `schema = FILE`
the messages are schemaless Avro written with that schema. `format = json`: one JSON object.
fastavro does the decoding; nothing here parses Avro itself.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro

from scraper.config import Settings

from .regime import Invalid


class Decoder:
    def __init__(self, fmt: str, schema: dict | None = None):
        self.fmt = fmt
        self.schema = fastavro.parse_schema(schema) if schema is not None else None

    @classmethod
    def of(cls, cfg: Settings) -> "Decoder":
        return cls(cfg.format, read_schema(cfg) if cfg.schema else None)

    def __call__(self, raw: bytes | None) -> dict[str, Any]:
        if not raw:
            raise Invalid("empty message")
        if self.fmt == "json":
            try:
                message = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                raise Invalid(f"not JSON: {exc}") from None
        elif self.schema is not None:
            try:
                message = fastavro.schemaless_reader(io.BytesIO(raw), self.schema)
            except Exception as exc:  # noqa: BLE001 - fastavro raises many kinds on bad bytes
                raise Invalid(f"not Avro of the configured schema: {type(exc).__name__}: {exc}") from None
        else:
            try:
                records = list(fastavro.reader(io.BytesIO(raw)))
            except Exception as exc:  # noqa: BLE001
                raise Invalid(f"not an Avro container: {type(exc).__name__}: {exc}") from None
            if len(records) != 1:
                raise Invalid(f"an Avro container with {len(records)} records, not one")
            message = records[0]
        if not isinstance(message, dict):
            raise Invalid(f"a {type(message).__name__}, not a record")
        return message


def read_schema(cfg: Settings) -> dict:
    """The `schema` file, parsed; one line naming the key when it is missing or not an Avro schema."""
    path = Path(cfg.schema)
    if not path.is_absolute():
        path = cfg.base_dir / path
    try:
        schema = json.loads(path.read_text())
        fastavro.parse_schema(schema)
    except OSError as exc:
        raise cfg.error("schema", f"cannot read {path}: {exc.strerror}") from None
    except Exception as exc:  # noqa: BLE001 - JSON or schema error, said in one line
        raise cfg.error("schema", f"{path} is not an Avro schema: {exc}") from None
    return schema
