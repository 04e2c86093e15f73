"""Importing time series from CSV: one message per row, for devices with history kept elsewhere.

Columns: `ts` (epoch seconds or RFC 3339; naive times are China time) and `device_id` are required;
`channel` and `community_id` are optional; every other non-empty cell becomes a payload field (numbers,
`true`/`false`, or text). Rows are sorted by time (stable), and each device gets a running `seq`."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Any

from devices.payloads import Channel
from devices.topics import topic_for
from simulator.errors import RecordingError
from simulator.message import SimMessage, encode, rfc3339
from simulator.timeparse import as_local


def _value(text: str) -> Any:
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def _ts(text: str) -> float:
    t = text.strip()
    try:
        return float(t)
    except ValueError:
        return as_local(datetime.fromisoformat(t)).timestamp()


def import_csv(
    path: str | Path,
    *,
    community: str | None = None,
    channel: str = "telemetry",
    registry: Any = None,
) -> list[SimMessage]:
    """Messages of a CSV file; the community comes from the row, the registry, or `community`."""
    rows: list[tuple[float, int, str, dict[str, Any]]] = []
    try:
        f = open(path, newline="", encoding="utf-8")  # noqa: SIM115 - a with block follows
    except OSError as e:
        raise RecordingError(f"{path}: cannot read CSV: {e.strerror}") from None
    with f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"ts", "device_id"} <= set(reader.fieldnames):
            raise RecordingError(f"{path}:1: CSV needs the columns ts and device_id")
        for n, row in enumerate(reader, 2):
            try:
                t = _ts(row["ts"])
                device = row["device_id"].strip()
                ch = Channel((row.get("channel") or channel).strip())
                comm = (row.get("community_id") or "").strip() or _community(registry, device) or community
                if not comm:
                    raise ValueError(f"no community for device {device!r} (give --community)")
                fields = {
                    k: _value(v)
                    for k, v in row.items()
                    if k not in ("ts", "device_id", "channel", "community_id", "seq") and v is not None and v.strip()
                }
                rows.append((t, n, topic_for(comm, device, ch), fields))
            except (ValueError, TypeError) as e:
                raise RecordingError(f"{path}:{n}: {e}") from None
    rows.sort(key=lambda r: (r[0], r[1]))
    seqs: dict[str, int] = {}
    out: list[SimMessage] = []
    for t, _, topic, fields in rows:
        dev = topic.split("/")[2]
        seq = seqs.get(dev, 0)
        seqs[dev] = seq + 1
        out.append(SimMessage(t, topic, encode({"ts": rfc3339(t), "seq": seq, **fields})))
    return out


def _community(registry: Any, device_id: str) -> str | None:
    if registry is None:
        return None
    p = registry.placement(device_id)
    return getattr(p, "community_id", None) if p is not None else None
