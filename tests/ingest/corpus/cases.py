"""Bad inputs, at least one per refusal reason the decoder gives, each with the reason it must get and a word
the detail must contain (the field it names). DUPLICATE is the spool's, not the decoder's."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.refusals import RefusalReason as R

from .registry import NOW

SMOKE = "cw/c1/SD-0001/telemetry"
WATER = "cw/c1/WM-0001/telemetry"
CAMERA = "cw/c1/CAM-0001/event"
T = int(NOW)


@dataclass(frozen=True)
class Case:
    name: str
    topic: str
    payload: bytes
    reason: R
    detail_has: str = ""
    retain: bool = False


def _b(text: str) -> bytes:
    return text.encode()


CASES: list[Case] = [
    Case("truncated json", SMOKE, _b('{"ts": %d, "smoke_obscuration_pct": 1' % T), R.MALFORMED_JSON),
    Case("not json at all", SMOKE, b"hello", R.MALFORMED_JSON),
    Case("empty payload", SMOKE, b"", R.MALFORMED_JSON),
    Case("invalid utf-8", SMOKE, b'{"ts": 1, "firmware": "\xff\xfe"}', R.MALFORMED_JSON),
    Case("utf-8 bom", SMOKE, b"\xef\xbb\xbf" + _b('{"ts": %d, "smoke_obscuration_pct": 1}' % T), R.MALFORMED_JSON),
    Case("trailing garbage", SMOKE, _b('{"ts": %d, "smoke_obscuration_pct": 1} x' % T), R.MALFORMED_JSON),
    Case("lone surrogate", "cw/c1/SD-0001/status", _b('{"ts": %d, "firmware": "\\ud800"}' % T), R.MALFORMED_JSON),
    Case("array", SMOKE, b"[1, 2, 3]", R.NOT_AN_OBJECT),
    Case("string", SMOKE, b'"alarm"', R.NOT_AN_OBJECT),
    Case("null", SMOKE, b"null", R.NOT_AN_OBJECT),
    Case("number", SMOKE, b"42", R.NOT_AN_OBJECT),
    Case("wrong prefix", "xx/c1/SD-0001/telemetry", b"{}", R.BAD_TOPIC),
    Case("too few levels", "cw/c1/SD-0001", b"{}", R.BAD_TOPIC),
    Case("too many levels", "cw/c1/SD-0001/telemetry/x", b"{}", R.BAD_TOPIC),
    Case("unknown channel", "cw/c1/SD-0001/command", b"{}", R.BAD_TOPIC, "command"),
    Case("bad device id", "cw/c1/SD 0001/telemetry", b"{}", R.BAD_TOPIC, "device id"),
    Case("empty topic", "", b"{}", R.BAD_TOPIC),
    Case("unknown device", "cw/c1/SD-9999/telemetry", b"{}", R.UNKNOWN_DEVICE, "SD-9999"),
    Case("wrong community", "cw/c2/SD-0001/telemetry", b"{}", R.WRONG_COMMUNITY, "c2"),
    Case("camera has no telemetry", "cw/c1/CAM-0001/telemetry", b"{}", R.WRONG_CHANNEL, "telemetry"),
    Case("missing field", SMOKE, _b('{"ts": %d}' % T), R.INVALID_PAYLOAD, "smoke_obscuration_pct"),
    Case("missing ts", SMOKE, _b('{"smoke_obscuration_pct": 1}'), R.INVALID_PAYLOAD, "ts"),
    Case(
        "string for number",
        SMOKE,
        _b('{"ts": %d, "smoke_obscuration_pct": "1.5"}' % T),
        R.INVALID_PAYLOAD,
        "smoke_obscuration_pct",
    ),  # fmt: skip
    Case(
        "out of range",
        SMOKE,
        _b('{"ts": %d, "smoke_obscuration_pct": 101}' % T),
        R.INVALID_PAYLOAD,
        "smoke_obscuration_pct",
    ),  # fmt: skip
    Case(
        "negative seq", SMOKE, _b('{"ts": %d, "seq": -1, "smoke_obscuration_pct": 1}' % T), R.INVALID_PAYLOAD, "seq"
    ),  # fmt: skip
    Case(
        "float seq", SMOKE, _b('{"ts": %d, "seq": 1.5, "smoke_obscuration_pct": 1}' % T), R.INVALID_PAYLOAD, "seq"
    ),  # fmt: skip
    Case("bool for number", SMOKE, _b('{"ts": %d, "smoke_obscuration_pct": true}' % T), R.INVALID_PAYLOAD),
    Case(
        "ts without offset",
        SMOKE,
        _b('{"ts": "2026-03-01T08:00:00", "smoke_obscuration_pct": 1}'),
        R.INVALID_PAYLOAD,
        "ts",
    ),  # fmt: skip
    Case("ts in milliseconds", SMOKE, _b('{"ts": %d000, "smoke_obscuration_pct": 1}' % T), R.INVALID_PAYLOAD, "ts"),
    Case("ts as bool", SMOKE, _b('{"ts": true, "smoke_obscuration_pct": 1}'), R.INVALID_PAYLOAD, "ts"),
    Case(
        "unknown event", "cw/c1/SD-0001/event", _b('{"ts": %d, "event": "party"}' % T), R.INVALID_PAYLOAD, "event"
    ),  # fmt: skip
    Case(
        "another class's payload",
        WATER,
        _b('{"ts": %d, "smoke_obscuration_pct": 1}' % T),
        R.INVALID_PAYLOAD,
        "volume_m3",
    ),  # fmt: skip
    Case(
        "bad url",
        CAMERA,
        _b('{"ts": %d, "event": "intrusion", "confidence": 0.5, "snapshot_url": "no url"}' % T),
        R.INVALID_PAYLOAD,
        "snapshot_url",
    ),  # fmt: skip
    Case(
        "short bbox",
        CAMERA,
        _b('{"ts": %d, "event": "intrusion", "confidence": 0.5, "bbox": [0.1]}' % T),
        R.INVALID_PAYLOAD,
        "bbox",
    ),  # fmt: skip
    Case(
        "bad frozen reading",
        WATER,
        _b('{"ts": %d, "volume_m3": 1, "frozen": [{"ts": %d}]}' % (T, T)),
        R.INVALID_PAYLOAD,
        "frozen",
    ),  # fmt: skip
    Case(
        "unknown field",
        SMOKE,
        _b('{"ts": %d, "smoke_obscuration_pct": 1, "humidity": 40}' % T),
        R.UNKNOWN_FIELD,
        "humidity",
    ),  # fmt: skip
    Case("NaN", SMOKE, _b('{"ts": %d, "smoke_obscuration_pct": NaN}' % T), R.NON_FINITE, "smoke_obscuration_pct"),
    Case(
        "Infinity",
        SMOKE,
        _b('{"ts": %d, "smoke_obscuration_pct": 1, "battery_pct": Infinity}' % T),
        R.NON_FINITE,
        "battery_pct",
    ),  # fmt: skip
    Case("-Infinity ts", SMOKE, _b('{"ts": -Infinity, "smoke_obscuration_pct": 1}'), R.NON_FINITE, "ts"),
    Case(
        "overflowing number",
        SMOKE,
        _b('{"ts": %d, "smoke_obscuration_pct": 1e999}' % T),
        R.NON_FINITE,
        "smoke_obscuration_pct",
    ),  # fmt: skip
    Case(
        "NaN in unknown field", SMOKE, _b('{"ts": %d, "smoke_obscuration_pct": 1, "x": NaN}' % T), R.NON_FINITE, "x"
    ),  # fmt: skip
    Case(
        "NaN in frozen",
        WATER,
        _b('{"ts": %d, "volume_m3": 1, "frozen": [{"ts": %d, "volume_m3": NaN}]}' % (T, T)),
        R.NON_FINITE,
        "frozen",
    ),  # fmt: skip
    Case(
        "too large",
        SMOKE,
        _b('{"ts": %d, "smoke_obscuration_pct": 1, "pad": "%s"}' % (T, "x" * 70_000)),
        R.TOO_LARGE,
        "65536",
    ),  # fmt: skip
    Case("far future", SMOKE, _b('{"ts": %d, "smoke_obscuration_pct": 1}' % (T + 3600)), R.TS_FUTURE, "ts"),
    Case("long past", SMOKE, _b('{"ts": %d, "smoke_obscuration_pct": 1}' % (T - 8 * 86400)), R.TS_PAST, "ts"),
    Case("epoch zero", SMOKE, _b('{"ts": 0, "smoke_obscuration_pct": 1}'), R.TS_PAST, "1970"),
    Case(
        "old frozen reading",
        WATER,
        _b('{"ts": %d, "volume_m3": 2, "frozen": [{"ts": %d, "volume_m3": 1}]}' % (T, T - 30 * 86400)),
        R.TS_PAST,
        "frozen[0].ts",
    ),  # fmt: skip
    Case("retained", SMOKE, _b('{"ts": %d, "smoke_obscuration_pct": 1}' % T), R.RETAINED, "retain", retain=True),
]
