"""JSON Lines recordings of MQTT traffic: one {"ts", "topic", "payload"} object per line, in send order.
`payload` is the UTF-8 text when the bytes are valid UTF-8, otherwise `payload_b64` holds them base64."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from simulator.errors import RecordingError
from simulator.message import SimMessage


def to_line(m: SimMessage) -> str:
    row: dict[str, Any] = {"ts": m.ts, "topic": m.topic}
    try:
        row["payload"] = m.payload.decode("utf-8")
    except UnicodeDecodeError:
        row["payload_b64"] = base64.b64encode(m.payload).decode("ascii")
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def from_line(line: str, where: str = "") -> SimMessage:
    try:
        row = json.loads(line)
        if "payload_b64" in row:
            payload = base64.b64decode(row["payload_b64"], validate=True)
        else:
            payload = str(row["payload"]).encode("utf-8")
        return SimMessage(float(row["ts"]), str(row["topic"]), payload)
    except (ValueError, KeyError, TypeError) as e:
        raise RecordingError(f"{where}: not a recorded message: {e}") from None


def write_jsonl(messages: Iterable[SimMessage], out: str | Path | IO[str]) -> int:
    """Write messages; returns how many."""
    if isinstance(out, str | Path):
        with open(out, "w", encoding="utf-8") as f:
            return write_jsonl(messages, f)
    n = 0
    for m in messages:
        out.write(to_line(m) + "\n")
        n += 1
    return n


def read_jsonl(path: str | Path) -> Iterator[SimMessage]:
    """Messages of a recording, in file order."""
    try:
        f = open(path, encoding="utf-8")  # noqa: SIM115 - a with block follows
    except OSError as e:
        raise RecordingError(f"{path}: cannot read recording: {e.strerror}") from None
    with f:
        for n, line in enumerate(f, 1):
            if line.strip():
                yield from_line(line, f"{path}:{n}")
