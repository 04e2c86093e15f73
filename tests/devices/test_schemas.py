from __future__ import annotations

import json
from pathlib import Path

import pytest

from devices.errors import DevicesError
from devices.payloads import MODELS, Payload, SmokeTelemetry, StatusPayload
from devices.schemas import schema_documents, schema_name, write_schemas

CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def test_checked_in_schemas_equal_generated() -> None:
    """Fails when a payload model changed without regenerating docs/schemas (run devices.schemas.write_schemas)."""
    generated = schema_documents()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in CHECKED_IN.glob("*.json")}
    assert sorted(on_disk) == sorted(generated)
    for name, text in generated.items():
        assert on_disk[name] == text, f"docs/schemas/{name} is stale"


def test_one_schema_per_model() -> None:
    assert len(schema_documents()) == len(set(MODELS.values()))
    assert schema_name(StatusPayload) == "status.json"
    assert schema_name(SmokeTelemetry) == "smoke_detector.telemetry.json"
    with pytest.raises(DevicesError):
        schema_name(Payload)


def test_schema_content() -> None:
    doc = json.loads(schema_documents()["water_meter.telemetry.json"])
    assert doc["additionalProperties"] is False
    assert set(doc["required"]) == {"ts", "volume_m3"}
    assert doc["x-cwatch-device-classes"] == ["water_meter"]
    assert doc["examples"]
    status = json.loads(schema_documents()["status.json"])
    assert len(status["x-cwatch-device-classes"]) == 8


def test_write_schemas_replaces_stale_files(tmp_path: Path) -> None:
    (tmp_path / "old_model.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("kept")
    written = write_schemas(tmp_path / "schemas")
    assert {p.name for p in written} == set(schema_documents())
    write_schemas(tmp_path)
    assert not (tmp_path / "old_model.json").exists()
    assert (tmp_path / "notes.txt").exists()
