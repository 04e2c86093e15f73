"""Durations as people write them in rule files ("90s", "5m", "2h", "1h30m", "1d") and as numbers of seconds."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0}


def parse_duration(value: object) -> float:
    """Seconds in `value`: a non-negative number (seconds) or a string of number+unit parts. Raises ValueError
    "bad duration '2x'" for anything else, which pydantic reports with the field's location."""
    if isinstance(value, bool):
        raise ValueError(f"bad duration {value!r}")
    if isinstance(value, int | float):
        if value < 0 or value != value or value == float("inf"):
            raise ValueError(f"bad duration {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"bad duration {value!r}")
    text = value.strip().lower().replace(" ", "")
    if not text:
        raise ValueError(f"bad duration {value!r}")
    pos = 0
    total = 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if pos != len(text):
        raise ValueError(f"bad duration {value!r}")
    return total


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of `seconds` ("2h", "90s"); used in alert titles and docs."""
    for unit in ("d", "h", "m", "s"):
        n = seconds / _UNIT_S[unit]
        if n >= 1 and n == int(n):
            return f"{int(n)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]
"""A pydantic field type: accepts "5m" or 300, holds seconds as float."""
