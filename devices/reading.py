"""`Reading`: one validated device message, placed in the grid. What the ingester hands to sinks and rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devices.model import DeviceClass
from devices.payloads import Channel

Scalar = float | int | bool | str


@dataclass(frozen=True, slots=True)
class Reading:
    """A decoded message. `ts` is device (event) time in epoch seconds; `fields` are the class's fields
    (without `ts`/`seq`), scalars only: nested values (camera `bbox`) are kept in `extra`.
    Placement ids come from the registry at decode time, so downstream code never looks them up again."""

    device_id: str
    device_class: DeviceClass
    channel: Channel
    ts: float
    seq: int | None
    fields: dict[str, Scalar]
    community_id: str
    microgrid_id: str
    building_id: str
    household_id: str | None = None
    received_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def event(self) -> str | None:
        """The `event` field of event-channel messages (or `state` of status messages)."""
        v = self.fields.get("event", self.fields.get("state"))
        return v if isinstance(v, str) else None
