"""`SimMessage` and the canonical payload encoding that makes runs byte-for-byte reproducible."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

CST = timezone(timedelta(hours=8), "CST")
"""China Standard Time: device clocks and scenario times are local (+08:00)."""


@dataclass(frozen=True, slots=True, order=True)
class SimMessage:
    """One MQTT message. `ts` is true (virtual clock) time at which it is published, epoch seconds; the
    payload carries the device's own clock, which may be skewed."""

    ts: float
    topic: str
    payload: bytes


def encode(payload: dict[str, Any]) -> bytes:
    """Compact JSON in insertion order: the models build dicts in a fixed field order, so equal inputs give
    equal bytes. Non-ASCII stays readable (UTF-8)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def rfc3339(epoch: float) -> str:
    """Device time as RFC 3339 with a +08:00 offset and millisecond precision."""
    ms = round(epoch * 1000)
    dt = datetime.fromtimestamp(ms // 1000, CST).replace(microsecond=(ms % 1000) * 1000)
    return dt.isoformat(timespec="milliseconds")
