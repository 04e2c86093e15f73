"""Bad inputs, at least one per refusal reason the decoder gives, each with the reason it must get and a word
the detail must contain (the field it names)."""

from __future__ import annotations

from dataclasses import dataclass
from string import Template

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


def _b(text: str, **values: object) -> bytes:
    """`text` with `$T` (and any other `$name`) substituted; `$T` defaults to the test clock's now."""
    return Template(text).substitute({"T": T, **values}).encode()


CASES: list[Case] = [
    Case("truncated json", SMOKE, _b('{"ts": $T, "smoke_obscuration_pct": 1'), R.MALFORMED_JSON),
    Case("not json at all", SMOKE, b"hello", R.MALFORMED_JSON),
    Case("empty payload", SMOKE, b"", R.MALFORMED_JSON),
    Case("invalid utf-8", SMOKE, b'{"ts": 1, "firmware": "\xff\xfe"}', R.MALFORMED_JSON),
    Case("utf-8 bom", SMOKE, b"\xef\xbb\xbf" + _b('{"ts": $T, "smoke_obscuration_pct": 1}'), R.MALFORMED_JSON),
    Case("trailing garbage", SMOKE, _b('{"ts": $T, "smoke_obscuration_pct": 1} x'), R.MALFORMED_JSON),
    Case("lone surrogate", "cw/c1/SD-0001/status", _b('{"ts": $T, "firmware": "\\ud800"}'), R.MALFORMED_JSON),
    Case("nesting beyond the parser's limit", SMOKE, b"[" * 30_000 + b"]" * 30_000, R.MALFORMED_JSON, "recursion"),
    Case(
        "deep nesting in a field", SMOKE, _b('{"ts": $T, "x": $deep}', deep="[" * 5000 + "]" * 5000), R.MALFORMED_JSON
    ),
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
    Case("missing field", SMOKE, _b('{"ts": $T}'), R.INVALID_PAYLOAD, "smoke_obscuration_pct"),
    Case("missing ts", SMOKE, _b('{"smoke_obscuration_pct": 1}'), R.INVALID_PAYLOAD, "ts"),
    Case(
        "string for number",
        SMOKE,
        _b('{"ts": $T, "smoke_obscuration_pct": "1.5"}'),
        R.INVALID_PAYLOAD,
        "smoke_obscuration_pct",
    ),
    Case(
        "out of range",
        SMOKE,
        _b('{"ts": $T, "smoke_obscuration_pct": 101}'),
        R.INVALID_PAYLOAD,
        "smoke_obscuration_pct",
    ),
    Case("negative seq", SMOKE, _b('{"ts": $T, "seq": -1, "smoke_obscuration_pct": 1}'), R.INVALID_PAYLOAD, "seq"),
    Case("float seq", SMOKE, _b('{"ts": $T, "seq": 1.5, "smoke_obscuration_pct": 1}'), R.INVALID_PAYLOAD, "seq"),
    Case("bool for number", SMOKE, _b('{"ts": $T, "smoke_obscuration_pct": true}'), R.INVALID_PAYLOAD),
    Case(
        "ts without offset",
        SMOKE,
        _b('{"ts": "2026-03-01T08:00:00", "smoke_obscuration_pct": 1}'),
        R.INVALID_PAYLOAD,
        "ts",
    ),
    Case("ts in milliseconds", SMOKE, _b('{"ts": ${T}000, "smoke_obscuration_pct": 1}'), R.INVALID_PAYLOAD, "ts"),
    Case("ts as bool", SMOKE, _b('{"ts": true, "smoke_obscuration_pct": 1}'), R.INVALID_PAYLOAD, "ts"),
    Case("unknown event", "cw/c1/SD-0001/event", _b('{"ts": $T, "event": "party"}'), R.INVALID_PAYLOAD, "event"),
    Case(
        "another class's payload",
        WATER,
        _b('{"ts": $T, "smoke_obscuration_pct": 1}'),
        R.INVALID_PAYLOAD,
        "volume_m3",
    ),
    Case(
        "bad url",
        CAMERA,
        _b('{"ts": $T, "event": "intrusion", "confidence": 0.5, "snapshot_url": "no url"}'),
        R.BAD_URL,
        "snapshot_url",
    ),
    *(
        Case(
            f"media url {what}",
            CAMERA,
            _b('{"ts": $T, "event": "thrown_object", "confidence": 0.9, "$f": "$u"}', f=field, u=url),
            R.BAD_URL,
            field,
        )
        for what, field, url in (
            ("javascript", "snapshot_url", "javascript:alert(document.cookie)"),
            ("data", "snapshot_url", "data:text/html,<script>alert(1)</script>"),
            ("file", "clip_url", "file:///etc/passwd"),
            ("ftp", "clip_url", "ftp://nvr.example.cn/clip.mp4"),
            ("link-local", "snapshot_url", "http://169.254.169.254/latest/meta-data/"),
            ("link-local v6", "snapshot_url", "http://[fe80::1]/snap.jpg"),
            ("loopback", "clip_url", "http://127.0.0.1:8086/query"),
            ("loopback as a number", "snapshot_url", "http://2130706433/snap.jpg"),
            ("mapped loopback", "snapshot_url", "http://[::ffff:127.0.0.1]/snap.jpg"),
            ("localhost", "snapshot_url", "http://localhost/snap.jpg"),
            ("credentials", "snapshot_url", "http://admin:12345@10.0.0.8/snap.jpg"),
            ("too long", "clip_url", "https://nvr.example.cn/" + "a" * 2048),
        )
    ),
    Case(
        "short bbox",
        CAMERA,
        _b('{"ts": $T, "event": "intrusion", "confidence": 0.5, "bbox": [0.1]}'),
        R.INVALID_PAYLOAD,
        "bbox",
    ),
    Case(
        "bad frozen reading",
        WATER,
        _b('{"ts": $T, "volume_m3": 1, "frozen": [{"ts": $T}]}'),
        R.INVALID_PAYLOAD,
        "frozen",
    ),
    Case(
        "unknown field",
        SMOKE,
        _b('{"ts": $T, "smoke_obscuration_pct": 1, "humidity": 40}'),
        R.UNKNOWN_FIELD,
        "humidity",
    ),
    Case(
        "repeated key, the last value would win",
        SMOKE,
        _b('{"ts": $T, "smoke_obscuration_pct": 1, "smoke_obscuration_pct": 99}'),
        R.DUPLICATE_KEY,
        "smoke_obscuration_pct",
    ),
    Case(
        "repeated key spelled with an escape",
        SMOKE,
        _b('{"ts": $T, "smoke_obscuration_pct": 1, "smoke\\u005fobscuration_pct": 99}'),
        R.DUPLICATE_KEY,
        "smoke_obscuration_pct",
    ),
    Case("repeated ts, spaced", SMOKE, _b('{"ts" : $T, "smoke_obscuration_pct": 1,"ts":$T}'), R.DUPLICATE_KEY, "ts"),
    Case(
        "repeated key in a frozen reading",
        WATER,
        _b('{"ts": $T, "volume_m3": 2, "frozen": [{"ts": $T, "volume_m3": 1, "volume_m3": 3}]}'),
        R.DUPLICATE_KEY,
        "volume_m3",
    ),
    Case(
        "repeated key where there is no fast path",
        CAMERA,
        _b('{"ts": $T, "event": "intrusion", "confidence": 0.5, "event": "thrown_object"}'),
        R.DUPLICATE_KEY,
        "event",
    ),
    Case("NaN", SMOKE, _b('{"ts": $T, "smoke_obscuration_pct": NaN}'), R.NON_FINITE, "smoke_obscuration_pct"),
    Case(
        "Infinity",
        SMOKE,
        _b('{"ts": $T, "smoke_obscuration_pct": 1, "battery_pct": Infinity}'),
        R.NON_FINITE,
        "battery_pct",
    ),
    Case("-Infinity ts", SMOKE, _b('{"ts": -Infinity, "smoke_obscuration_pct": 1}'), R.NON_FINITE, "ts"),
    Case(
        "overflowing number",
        SMOKE,
        _b('{"ts": $T, "smoke_obscuration_pct": 1e999}'),
        R.NON_FINITE,
        "smoke_obscuration_pct",
    ),
    Case("NaN in unknown field", SMOKE, _b('{"ts": $T, "smoke_obscuration_pct": 1, "x": NaN}'), R.NON_FINITE, "x"),
    Case(
        "NaN in frozen",
        WATER,
        _b('{"ts": $T, "volume_m3": 1, "frozen": [{"ts": $T, "volume_m3": NaN}]}'),
        R.NON_FINITE,
        "frozen",
    ),
    Case(
        "too large",
        SMOKE,
        _b('{"ts": $T, "smoke_obscuration_pct": 1, "pad": "$pad"}', pad="x" * 70_000),
        R.TOO_LARGE,
        "65536",
    ),
    Case("far future", SMOKE, _b('{"ts": $T, "smoke_obscuration_pct": 1}', T=T + 3600), R.TS_FUTURE, "ts"),
    Case("long past", SMOKE, _b('{"ts": $T, "smoke_obscuration_pct": 1}', T=T - 8 * 86400), R.TS_PAST, "ts"),
    Case("epoch zero", SMOKE, _b('{"ts": 0, "smoke_obscuration_pct": 1}'), R.TS_PAST, "1970"),
    Case(
        "old frozen reading",
        WATER,
        _b('{"ts": $T, "volume_m3": 2, "frozen": [{"ts": $old, "volume_m3": 1}]}', old=T - 30 * 86400),
        R.TS_PAST,
        "frozen[0].ts",
    ),
    Case("retained", SMOKE, _b('{"ts": $T, "smoke_obscuration_pct": 1}'), R.RETAINED, "retain", retain=True),
]
