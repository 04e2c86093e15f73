"""docs/api.md against the API: its reference is the OpenAPI document written out, so a route or field added
without `make apidoc` fails here; and the document it is written from is the one the service serves."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import MagicMock

from prometheus_client import CollectorRegistry

from alerts.api import AlertsApi
from cwatch.api import OpsApi
from cwatch.apidoc import BEGIN, END, openapi_document, render, rewrite
from cwatch.http import build_http_app

API_MD = Path(__file__).parents[2] / "docs" / "api.md"


def test_docs_api_md_reference_is_current() -> None:
    text = API_MD.read_text(encoding="utf-8")
    assert BEGIN in text
    assert END in text
    assert rewrite(text, openapi_document()) == text, "docs/api.md is out of date: run `make apidoc`"


def test_the_reference_is_written_from_what_the_service_serves() -> None:
    async def ready() -> dict[str, bool]:
        return {}

    service = MagicMock()
    app = build_http_app(
        readiness=ready,
        metrics=CollectorRegistry(),
        alerts_api=AlertsApi(service, MagicMock(), lambda: None, hub=MagicMock()),
        ops_api=OpsApi(MagicMock(), MagicMock()),
    )
    served = app.openapi()
    assert served["paths"] == openapi_document()["paths"]
    reference = render(served)
    for path, ops in served["paths"].items():
        for method in ops:
            assert f"### `{method.upper()} {path}`" in reference
    for name, schema in served["components"]["schemas"].items():
        for field in schema.get("properties", {}):
            assert f"| `{field}` |" in reference, (name, field)


def test_an_undocumented_field_is_caught() -> None:
    doc = openapi_document()
    text = rewrite("# API\n", doc)
    doc["components"]["schemas"]["TicketOut"]["properties"]["new_field"] = {"type": "string"}
    assert rewrite(text, doc) != text
