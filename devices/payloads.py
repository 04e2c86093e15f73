"""Device protocol v1: the JSON payload of every (device class, channel) pair, as pydantic models.

These models are the single source of truth: `docs/schemas/*.json` is generated from them
(`cwatch schemas`), the ingester validates with them, and the simulator builds its messages from them.
Every model forbids unknown fields and non-finite numbers, because a device that sends either is broken
and its data should be refused with a reason rather than half-understood.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    UrlConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from core.urls import AllowEntry, media_allowed, media_url_problem
from devices.model import DeviceClass


class Channel(StrEnum):
    TELEMETRY = "telemetry"
    EVENT = "event"
    STATUS = "status"


Pct = Annotated[float, Field(ge=0, le=100)]
Confidence = Annotated[float, Field(ge=0, le=1)]
EpochSeconds = Annotated[float, Field(ge=0, le=32_503_680_000)]  # up to year 3000
MAX_EPOCH = 32_503_680_000

# RFC 3339 date-time with a mandatory offset ("Z" or ±hh:mm); fractional seconds optional
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _device_time(v: Any) -> Any:
    """Accept exactly the two documented forms of `ts`. Without this, pydantic's lax datetime parsing would
    take `true`, `"1772323200"`, negative numbers (as 1969) and milliseconds (as seconds) for a time."""
    if isinstance(v, bool):
        raise ValueError("ts must be an RFC 3339 string with an offset or epoch seconds, not a boolean")
    if isinstance(v, int | float):
        if not math.isfinite(v) or not 0 <= v <= MAX_EPOCH:
            raise ValueError(f"ts {v!r} is not epoch seconds between 0 and {MAX_EPOCH} (milliseconds are refused)")
        return float(v)
    if isinstance(v, str):
        if not _RFC3339.fullmatch(v):
            raise ValueError(f"ts {v!r} is not RFC 3339 with an offset, e.g. 2026-03-01T08:00:00+08:00")
        try:
            return datetime.fromisoformat(v.replace("z", "Z"))
        except ValueError:
            raise ValueError(f"ts {v!r} is not a valid date and time") from None
    return v


LOOPBACK_MEDIA = "loopback_media"
"""Validation context key: allow-list entries (`core.urls.AllowEntry`) whose URLs may name this machine. Only the
demo sets it (its own snapshots); without it, as in every normal serve, a loopback media URL is refused."""


def _media_url(v: AnyUrl, info: ValidationInfo) -> AnyUrl:
    entries: tuple[AllowEntry, ...] = tuple((info.context or {}).get(LOOPBACK_MEDIA, ()))
    loopback_ok = bool(entries) and media_allowed(str(v), entries)
    problem = media_url_problem(v.host, v.username, v.password, allow_loopback=loopback_ok)
    if problem is not None:
        raise PydanticCustomError("url_refused", "URL {problem}", {"problem": problem})
    return v


MediaUrl = Annotated[
    AnyUrl,
    UrlConstraints(max_length=2048, allowed_schemes=["http", "https"], host_required=True),
    AfterValidator(_media_url),
    Field(json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"}),
]
"""A picture or clip a browser opens: http(s) only, no credentials, not this machine's or a link-local host
(`core.urls`). Every error it raises has a type starting with `url_` (the ingester's `bad_url` reason)."""


class Payload(BaseModel):
    """Fields every message carries: device time and an optional per-device sequence number."""

    # strict: a device that sends "12.5" for a number or "yes" for a boolean is broken; refuse, don't guess
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True, strict=True)

    ts: AwareDatetime | EpochSeconds = Field(
        description="Device time: RFC 3339 with an offset, or epoch seconds (UTC)."
    )
    seq: Annotated[int, Field(ge=0, lt=2**63)] | None = Field(
        default=None, description="Per-device sequence number; (device, seq) identifies a message."
    )

    # a model validator, not an Annotated one, so the field's type stays plain for tools that read it
    _check_ts = field_validator("ts", mode="before")(_device_time)

    def epoch(self) -> float:
        """`ts` as epoch seconds."""
        return self.ts.timestamp() if isinstance(self.ts, datetime) else float(self.ts)


# --- status: one shape for every class -------------------------------------------------------------------


class StatusPayload(Payload):
    """Heartbeat and connectivity. A device sends `heartbeat` at its expected interval."""

    state: Literal["heartbeat", "online", "offline", "fault", "fault_cleared"] = "heartbeat"
    battery_pct: Pct | None = None
    rssi_dbm: Annotated[float, Field(ge=-150, le=0)] | None = None
    firmware: Annotated[str, Field(max_length=64)] | None = None
    detail: Annotated[str, Field(max_length=256)] | None = None


# --- smoke detector ----------------------------------------------------------------------------------------


class SmokeTelemetry(Payload):
    smoke_obscuration_pct: Pct = Field(description="Smoke concentration as % obscuration per metre.")
    temperature_c: Annotated[float, Field(ge=-60, le=200)] | None = None
    battery_pct: Pct | None = None
    contamination_pct: Pct | None = Field(default=None, description="Sensor chamber contamination.")


class SmokeEvent(Payload):
    event: Literal[
        "alarm",
        "alarm_cleared",
        "silenced",
        "fault",
        "fault_cleared",
        "tamper",
        "tamper_cleared",
        "low_battery",
        "self_test",
    ]
    smoke_obscuration_pct: Pct | None = None
    temperature_c: Annotated[float, Field(ge=-60, le=200)] | None = None


# --- water meter -------------------------------------------------------------------------------------------


class FrozenReading(BaseModel):
    """An interval reading stored by the meter and uploaded later (NB-IoT meters upload once a day)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True, strict=True)

    ts: AwareDatetime | EpochSeconds

    _check_ts = field_validator("ts", mode="before")(_device_time)
    volume_m3: Annotated[float, Field(ge=0, le=1e7)]


class WaterTelemetry(Payload):
    volume_m3: Annotated[float, Field(ge=0, le=1e7)] = Field(description="Cumulative register, m3.")
    flow_lpm: Annotated[float, Field(ge=0, le=1000)] | None = Field(default=None, description="Litres/minute.")
    leak: bool = False
    burst: bool = False
    backflow: bool = False
    tamper: bool = False
    low_battery: bool = False
    dry_pipe: bool = False
    frozen: Annotated[list[FrozenReading], Field(max_length=96)] | None = Field(
        default=None, description="Earlier interval readings, oldest first, sent with a daily upload."
    )


class WaterEvent(Payload):
    event: Literal["leak", "leak_cleared", "burst", "backflow", "tamper", "low_battery", "dry_pipe"]
    volume_m3: Annotated[float, Field(ge=0, le=1e7)] | None = None


# --- access control ----------------------------------------------------------------------------------------


class AccessEvent(Payload):
    event: Literal[
        "granted",
        "denied",
        "forced_open",
        "held_open",
        "door_closed",
        "tailgating",
        "reverse_entry",
        "climbing",
        "loitering",
        "liveness_failed",
        "face_verification_failed",
        "unknown_card",
        "too_many_wrong_codes",
        "blocklist_hit",
        "duress",
        "tamper",
    ]
    method: Literal["card", "face", "code", "qr", "app", "key"] | None = None
    credential: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="Opaque credential reference (hashed card or face id), never a name."
    )
    door: Annotated[str, Field(max_length=64)] | None = None
    direction: Literal["in", "out"] | None = None
    held_open_s: Annotated[float, Field(ge=0, le=86_400 * 7)] | None = None


class AccessTelemetry(Payload):
    door_open: bool
    door: Annotated[str, Field(max_length=64)] | None = None


# --- AI camera ---------------------------------------------------------------------------------------------


class CameraEvent(Payload):
    event: Literal[
        "thrown_object",
        "fire_lane_blocked",
        "ebike_in_elevator",
        "ebike_charging_indoor",
        "smoke_fire",
        "garbage_dumped",
        "intrusion",
    ]
    state: Literal["start", "stop", "pulse"] = Field(
        default="pulse", description="An incident is start+stop, or one pulse."
    )
    confidence: Confidence
    object_id: Annotated[str, Field(max_length=64)] | None = None
    bbox: Annotated[list[Annotated[float, Field(ge=0, le=1)]], Field(min_length=4, max_length=4)] | None = Field(
        default=None, description="Normalised [x, y, w, h]."
    )
    snapshot_url: MediaUrl | None = Field(default=None, description="Picture of the incident (http or https).")
    clip_url: MediaUrl | None = Field(default=None, description="Video clip of the incident (http or https).")
    estimated_floor: Annotated[int, Field(ge=-5, le=200)] | None = Field(
        default=None, description="For thrown objects: the floor the object was thrown from."
    )
    camera_channel: Annotated[int, Field(ge=0, le=1024)] | None = None


# --- manhole cover -----------------------------------------------------------------------------------------


class ManholeTelemetry(Payload):
    tilt_deg: Annotated[float, Field(ge=0, le=180)]
    water_level_cm: Annotated[float, Field(ge=-1000, le=10_000)] | None = None
    open: bool = False
    battery_pct: Pct | None = None


class ManholeEvent(Payload):
    event: Literal["opened", "closed", "tilted", "overflow", "tamper", "low_battery"]
    tilt_deg: Annotated[float, Field(ge=0, le=180)] | None = None


# --- trash bin ---------------------------------------------------------------------------------------------


class TrashTelemetry(Payload):
    fill_pct: Pct
    temperature_c: Annotated[float, Field(ge=-60, le=400)] | None = None
    battery_pct: Pct | None = None


class TrashEvent(Payload):
    event: Literal["full", "fire", "tilted", "emptied", "lid_jammed"]
    fill_pct: Pct | None = None


# --- gas detector ------------------------------------------------------------------------------------------


class GasTelemetry(Payload):
    gas_lel_pct: Pct = Field(description="Combustible gas, % of the lower explosive limit.")
    co_ppm: Annotated[float, Field(ge=0, le=10_000)] | None = None
    battery_pct: Pct | None = None


class GasEvent(Payload):
    event: Literal["alarm", "alarm_cleared", "fault", "valve_closed", "sensor_expired"]
    gas_lel_pct: Pct | None = None


# --- e-bike charger ----------------------------------------------------------------------------------------


class ChargerTelemetry(Payload):
    port: Annotated[int, Field(ge=0, le=64)] = 0
    charging: bool
    power_w: Annotated[float, Field(ge=0, le=10_000)] = 0.0
    current_a: Annotated[float, Field(ge=0, le=100)] | None = None
    temperature_c: Annotated[float, Field(ge=-60, le=400)] | None = None


class ChargerEvent(Payload):
    event: Literal["started", "stopped", "overcurrent", "overtemperature", "smoke", "fault"]
    port: Annotated[int, Field(ge=0, le=64)] = 0
    temperature_c: Annotated[float, Field(ge=-60, le=400)] | None = None


MODELS: dict[tuple[DeviceClass, Channel], type[Payload]] = {
    (DeviceClass.SMOKE_DETECTOR, Channel.TELEMETRY): SmokeTelemetry,
    (DeviceClass.SMOKE_DETECTOR, Channel.EVENT): SmokeEvent,
    (DeviceClass.WATER_METER, Channel.TELEMETRY): WaterTelemetry,
    (DeviceClass.WATER_METER, Channel.EVENT): WaterEvent,
    (DeviceClass.ACCESS_CONTROL, Channel.TELEMETRY): AccessTelemetry,
    (DeviceClass.ACCESS_CONTROL, Channel.EVENT): AccessEvent,
    (DeviceClass.AI_CAMERA, Channel.EVENT): CameraEvent,
    (DeviceClass.MANHOLE_COVER, Channel.TELEMETRY): ManholeTelemetry,
    (DeviceClass.MANHOLE_COVER, Channel.EVENT): ManholeEvent,
    (DeviceClass.TRASH_BIN, Channel.TELEMETRY): TrashTelemetry,
    (DeviceClass.TRASH_BIN, Channel.EVENT): TrashEvent,
    (DeviceClass.GAS_DETECTOR, Channel.TELEMETRY): GasTelemetry,
    (DeviceClass.GAS_DETECTOR, Channel.EVENT): GasEvent,
    (DeviceClass.EBIKE_CHARGER, Channel.TELEMETRY): ChargerTelemetry,
    (DeviceClass.EBIKE_CHARGER, Channel.EVENT): ChargerEvent,
}
for _cls in DeviceClass:
    MODELS[(_cls, Channel.STATUS)] = StatusPayload


def model_for(device_class: DeviceClass, channel: Channel) -> type[Payload] | None:
    """The payload model for a class on a channel, or None when that class does not use the channel."""
    return MODELS.get((device_class, channel))
