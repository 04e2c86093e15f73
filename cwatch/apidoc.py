"""The reference part of docs/api.md, written from the OpenAPI document: every operation with its parameters,
body and answers, and every schema with every field. `make apidoc` rewrites it; a test fails when the file
differs, so no route or field goes undocumented.

    python -m cwatch.apidoc docs/api.md      # rewrite the reference between the markers
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI

import alerts.api
import cwatch.api

BEGIN = "<!-- reference: written by `make apidoc` from the OpenAPI document; do not edit by hand -->"
END = "<!-- end of reference -->"


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, as the service serves it at /api/openapi.json."""
    app = FastAPI(title="cwatch")
    alerts.api.include_routes(app)
    cwatch.api.include_routes(app)
    return app.openapi()


def _type(s: dict[str, Any]) -> str:
    if "$ref" in s:
        name = s["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in s:
        return " or ".join(_type(x) for x in s["anyOf"])
    if "enum" in s:
        return " \\| ".join(f"`{v}`" for v in s["enum"])
    t = s.get("type", "any")
    if t == "array":
        return f"list of {_type(s.get('items', {}))}"
    if t == "object" and isinstance(s.get("additionalProperties"), dict):
        keys = s.get("propertyNames")
        key = _type(keys) if isinstance(keys, dict) else "string"
        return f"map of {key} to {_type(s['additionalProperties'])}"
    bounds = [
        f"{sym} {s[k]}"
        for k, sym in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("minLength", "length ≥"))
        if k in s
    ]
    if "maxLength" in s:
        bounds.append(f"length ≤ {s['maxLength']}")
    if "format" in s:
        bounds.append(s["format"])
    return str(t) + (f" ({', '.join(bounds)})" if bounds else "")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render(doc: dict[str, Any]) -> str:
    out = [BEGIN, "", "## Reference", ""]
    out.append("Every operation under `/api/v1`, then every schema. Errors are [ErrorBody](#errorbody).")
    out.append("")
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            out += [f"### `{method.upper()} {path}`", ""]
            description = op.get("description") or op.get("summary", "")
            if description:
                out += [_cell(description), ""]
            params = op.get("parameters", [])
            if params:
                out += ["| parameter | in | type | required | meaning |", "| --- | --- | --- | --- | --- |"]
                for p in params:
                    req = "yes" if p.get("required") else "no"
                    desc = _cell(p.get("description") or p["schema"].get("description", ""))
                    out.append(f"| `{p['name']}` | {p['in']} | {_type(p['schema'])} | {req} | {desc} |")
                out.append("")
            body = op.get("requestBody")
            if body:
                schema = next(iter(body["content"].values()))["schema"]
                req = "required" if body.get("required") else "optional"
                out += [f"Body ({req}): {_type(schema)}", ""]
            answers = []
            for status, r in op["responses"].items():
                media: list[dict[str, Any]] = list(r.get("content", {}).values())
                shape = _type(media[0]["schema"]) if media and "schema" in media[0] else "no body"
                answers.append(f"{status} {shape}")
            out += ["Answers: " + "; ".join(answers) + ".", ""]
    out += ["### Schemas", ""]
    for name, s in sorted(doc["components"]["schemas"].items()):
        out += [f"#### {name}", ""]
        if s.get("description"):
            out += [_cell(s["description"]), ""]
        props = s.get("properties")
        if props:
            required = set(s.get("required", []))
            out += ["| field | type | always there | meaning |", "| --- | --- | --- | --- |"]
            for field, fs in props.items():
                always = "yes" if field in required else "no"
                out.append(f"| `{field}` | {_type(fs)} | {always} | {_cell(fs.get('description', ''))} |")
        elif "enum" in s:
            out.append(_type(s))
        out.append("")
    return "\n".join([*out, END])


def rewrite(text: str, doc: dict[str, Any]) -> str:
    """`text` with its reference (between the markers, or appended) written from `doc`."""
    reference = render(doc)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + reference + rest.split(END, 1)[1]
    return text.rstrip("\n") + "\n\n" + reference + "\n"


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "docs/api.md")
    path.write_text(rewrite(path.read_text(encoding="utf-8"), openapi_document()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
