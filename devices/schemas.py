"""JSON Schemas of protocol v1, generated from `devices.payloads` so the published contract cannot drift.

`docs/schemas/` holds the output and is checked in; a test fails when it differs from what the models
generate, so a model change without `cwatch schemas` (or `write_schemas`) is caught in CI.
"""

from __future__ import annotations

import json
from pathlib import Path

from devices.errors import DevicesError
from devices.examples import EXAMPLES
from devices.payloads import MODELS, Channel, Payload

__all__ = ["SCHEMA_DIALECT", "schema_documents", "schema_name", "write_schemas"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_STATUS_FILE = "status.json"


def schema_name(model: type[Payload]) -> str:
    """File name of a model's schema: `{class}.{channel}.json`, or `status.json` for the one status model
    every class shares."""
    keys = sorted((c.value, ch.value) for (c, ch), m in MODELS.items() if m is model)
    if not keys:
        raise DevicesError(f"{model.__name__} is not a protocol v1 payload model")
    if all(ch == Channel.STATUS.value for _, ch in keys):
        return _STATUS_FILE
    if len(keys) != 1:
        raise DevicesError(f"{model.__name__} serves several classes; give it its own file name")
    cls, ch = keys[0]
    return f"{cls}.{ch}.json"


def schema_documents() -> dict[str, str]:
    """File name → JSON text of every model's schema, deterministic (sorted keys, trailing newline)."""
    docs: dict[str, str] = {}
    for model in dict.fromkeys(MODELS.values()):
        name = schema_name(model)
        uses = [(c, ch) for (c, ch), m in MODELS.items() if m is model]
        schema = {
            "$schema": SCHEMA_DIALECT,
            "$id": f"urn:cwatch:protocol:v1:{name.removesuffix('.json')}",
            "$comment": "Generated from devices.payloads by devices.schemas.write_schemas; do not edit.",
            "x-cwatch-channel": uses[0][1].value,
            "x-cwatch-device-classes": sorted(c.value for c, _ in uses),
            **model.model_json_schema(mode="validation"),
            "examples": EXAMPLES[uses[0]],
        }
        docs[name] = json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    return dict(sorted(docs.items()))


def write_schemas(folder: str | Path) -> list[Path]:
    """Write every schema into `folder` (created if missing), remove stale `*.json` files there, and return
    the paths written."""
    out = Path(folder)
    docs = schema_documents()
    try:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob("*.json"):
            if stale.name not in docs:
                stale.unlink()
        paths = []
        for name, text in docs.items():
            path = out / name
            path.write_text(text, encoding="utf-8")
            paths.append(path)
    except OSError as e:
        raise DevicesError(f"cannot write schemas to {out}: {e}") from e
    return paths
