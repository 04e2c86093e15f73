"""docs/device-protocol.md must not drift from the models: every field is documented under its class, every
example message in it validates for the topic it is shown with, and every refusal reason is explained."""

from __future__ import annotations

import re
from pathlib import Path

from devices.model import DeviceClass
from devices.payloads import MODELS, StatusPayload
from devices.sample import DEVICE_PREFIX
from devices.schemas import schema_documents
from devices.topics import parse_topic
from ingest.refusals import DEADLETTER_REASONS, RefusalReason

DOC = (Path(__file__).resolve().parents[2] / "docs" / "device-protocol.md").read_text(encoding="utf-8")
_EXAMPLE = re.compile(r"Topic `(cw/[^`]+)`:\s*```json\n(.*?)\n```", re.S)
_CLASS_OF_PREFIX = {prefix: cls for cls, prefix in DEVICE_PREFIX.items()}


def section(title: str) -> str:
    start = DOC.index(title)
    nxt = DOC.find("\n### ", start + len(title))
    return DOC[start : nxt if nxt != -1 else len(DOC)]


def test_every_field_documented_under_its_class() -> None:
    for (cls, _), model in MODELS.items():
        text = DOC if model is StatusPayload else section(f"### `{cls.value}`")
        for name in model.model_fields:
            if name not in ("ts", "seq"):
                assert f"| `{name}` |" in text, (cls, model.__name__, name)
    for name in ("`ts`", "`seq`"):
        assert name in DOC


def test_examples_in_the_doc_validate() -> None:
    examples = _EXAMPLE.findall(DOC)
    assert len(examples) >= len(MODELS) - len(DeviceClass) + 2
    seen = set()
    for topic, body in examples:
        t = parse_topic(topic)
        cls = _CLASS_OF_PREFIX[t.device_id.split("-")[0]]
        MODELS[(cls, t.channel)].model_validate_json(body)
        seen.add((cls, t.channel))
    assert {k for k, m in MODELS.items() if m is not StatusPayload} <= seen


def test_every_refusal_reason_and_schema_is_listed() -> None:
    for reason in RefusalReason:
        assert f"| `{reason.value}` |" in DOC, reason
    for name in schema_documents():
        assert f"(schemas/{name})" in DOC, name


def test_the_refusal_table_lists_exactly_the_reasons_a_dead_letter_can_carry() -> None:
    """A reason in the table that never reaches the dead letters (a redelivered duplicate is only counted) would
    send an operator looking for rows that cannot exist; `cwatch deadletters --reason` takes the same list."""
    table = DOC[DOC.index("## What the ingester refuses") :]
    table = table[: table.index("\n\n", table.index("| reason |"))]
    listed = re.findall(r"^\| `([a-z_]+)` \|", table, re.M)
    assert sorted(listed) == sorted(DEADLETTER_REASONS)


def test_the_service_gives_the_documented_decoder_failure_reason() -> None:
    from ingest import refusals, service

    assert service.DECODER_ERROR == refusals.DECODER_ERROR
