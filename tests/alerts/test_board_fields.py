"""Every field a ticket's details can hold (the device's payload fields and the rules' own) has a label in both
languages for the board's detail view, so a worker reads "Meter reading (m³)" rather than `volume_m3`."""

from __future__ import annotations

import enum
import inspect
import typing

from pydantic import BaseModel

import devices.payloads
from core import i18n

#: the rules' own details (rules/kinds/*.py) besides those the device sent
RULE_DETAILS = {
    "pending_s", "for_s", "lasted_s", "silent_s", "window_s", "limit_s", "forget_after_s", "since", "last_use",
    "last_seen", "last_raise", "confirmed_at", "deferred_from", "late", "count", "episodes", "objects", "signal",
    "forgotten", "min_use_m3", "device_class", "channel", "today_m3", "limit_m3", "inactive_s", "quiet_s",
    "used_at", "until", "reason", "silent", "devices", "silent_devices", "wait_ended_at", "before_quiet",
}  # fmt: skip
NOT_DETAILS = {"ts", "seq"}  # the reading's time and sequence number become the ticket's own times


def payload_fields() -> set[str]:
    models = [
        c
        for _, c in inspect.getmembers(devices.payloads, inspect.isclass)
        if issubclass(c, BaseModel) and c.__module__ == devices.payloads.__name__
    ]
    return {f for m in models for f in m.model_fields} - NOT_DETAILS


def test_every_detail_field_has_a_label_in_both_languages() -> None:
    fields = payload_fields() | RULE_DETAILS
    assert {"volume_m3", "flow_lpm", "smoke_obscuration_pct"} <= fields
    for lang in i18n.LANGS:
        labels = i18n.area("board", lang)
        missing = sorted(f for f in fields if f"field.{f}" not in labels)
        assert not missing, f"{lang}: no label in core/messages/board.toml for {missing}"


def test_a_measured_field_names_its_unit() -> None:
    units = {"_m3": "m³", "_pct": "%", "_c": "°C", "_lpm": "l/min", "_dbm": "dBm", "_a": "(A)", "_w": "(W)"}
    for f in sorted(payload_fields() | RULE_DETAILS):
        for suffix, unit in units.items():
            if f.endswith(suffix):
                assert unit in i18n.render(f"board.field.{f}", i18n.EN), f


#: detail fields whose value is one of a few words the protocol defines: the board says each in words
WORD_FIELDS = ("event", "state", "method", "direction")


def protocol_words() -> dict[str, set[str]]:
    """field -> every word the payload models allow in it (their Literal and enum values)."""
    out: dict[str, set[str]] = {"channel": {c.value for c in devices.payloads.Channel}}

    def walk(field: str, annotation: object) -> None:
        if typing.get_origin(annotation) is typing.Literal:
            out.setdefault(field, set()).update(a for a in typing.get_args(annotation) if isinstance(a, str))
        elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            out.setdefault(field, set()).update(str(a.value) for a in annotation)
        else:
            for arg in typing.get_args(annotation):
                walk(field, arg)

    for _, model in inspect.getmembers(devices.payloads, inspect.isclass):
        if issubclass(model, BaseModel) and model.__module__ == devices.payloads.__name__:
            for name, info in model.model_fields.items():
                if name in WORD_FIELDS:
                    walk(name, info.annotation)
    return out


def test_every_word_a_device_sends_in_a_detail_reads_as_words_in_both_languages() -> None:
    words = protocol_words()
    assert {"forced_open", "thrown_object", "alarm"} <= words["event"]
    assert {"pulse", "offline"} <= words["state"]
    for lang in i18n.LANGS:
        labels = i18n.area("board", lang)
        missing = sorted(f"{f}.{w}" for f, ws in words.items() for w in ws if f"value.{f}.{w}" not in labels)
        assert not missing, f"{lang}: no words in core/messages/board.toml for {missing}"
