"""Valid sample payloads for every (device class, channel) of protocol v1.

One place for examples so the protocol document, the contract test and the simulator all show the same
messages; the contract test proves each one validates against `devices.payloads.MODELS`.
"""

from __future__ import annotations

import copy
from typing import Any

from devices.model import DeviceClass
from devices.payloads import MODELS, Channel, Payload

__all__ = ["EXAMPLES", "examples_for", "validated_examples"]

Example = dict[str, Any]

_STATUS: list[Example] = [
    {"ts": "2026-03-01T08:00:00+08:00", "seq": 1041, "state": "heartbeat", "battery_pct": 87, "rssi_dbm": -91},
    {"ts": 1772323200, "state": "online", "firmware": "2.4.1"},
    {"ts": "2026-03-01T00:05:00Z", "seq": 1042, "state": "fault", "detail": "sensor chamber dirty"},
    {"ts": 1772323500.25, "state": "offline"},
]

EXAMPLES: dict[tuple[DeviceClass, Channel], list[Example]] = {
    (DeviceClass.SMOKE_DETECTOR, Channel.TELEMETRY): [
        {"ts": "2026-03-01T08:00:00+08:00", "seq": 17, "smoke_obscuration_pct": 0.4, "temperature_c": 21.5},
        {"ts": 1772323200, "smoke_obscuration_pct": 0, "battery_pct": 93, "contamination_pct": 12},
    ],
    (DeviceClass.SMOKE_DETECTOR, Channel.EVENT): [
        {"ts": "2026-03-01T18:42:07+08:00", "seq": 18, "event": "alarm", "smoke_obscuration_pct": 14.2},
        {"ts": "2026-03-01T18:44:30+08:00", "seq": 19, "event": "alarm_cleared", "smoke_obscuration_pct": 1.1},
        {"ts": 1772323200, "event": "low_battery"},
        {"ts": 1772323200, "event": "tamper", "temperature_c": 23},
    ],
    (DeviceClass.WATER_METER, Channel.TELEMETRY): [
        {"ts": "2026-03-01T09:00:00+08:00", "seq": 3310, "volume_m3": 152.317, "flow_lpm": 4.5},
        {
            "ts": "2026-03-02T00:10:00+08:00",
            "seq": 3311,
            "volume_m3": 152.498,
            "frozen": [
                {"ts": "2026-03-01T22:00:00+08:00", "volume_m3": 152.401},
                {"ts": "2026-03-01T23:00:00+08:00", "volume_m3": 152.455},
                {"ts": 1772380800, "volume_m3": 152.498},
            ],
        },
        {"ts": 1772323200, "volume_m3": 88.0, "flow_lpm": 0, "leak": True, "low_battery": True},
    ],
    (DeviceClass.WATER_METER, Channel.EVENT): [
        {"ts": "2026-03-01T03:12:00+08:00", "event": "leak", "volume_m3": 152.1},
        {"ts": 1772323200, "seq": 77, "event": "burst"},
        {"ts": 1772323200, "event": "leak_cleared"},
    ],
    (DeviceClass.ACCESS_CONTROL, Channel.TELEMETRY): [
        {"ts": "2026-03-01T07:30:00+08:00", "door_open": False, "door": "1单元"},
        {"ts": 1772323200, "seq": 5, "door_open": True},
    ],
    (DeviceClass.ACCESS_CONTROL, Channel.EVENT): [
        {
            "ts": "2026-03-01T07:31:05+08:00",
            "seq": 90211,
            "event": "granted",
            "method": "face",
            "credential": "f:9c1e4a",
            "door": "1单元",
            "direction": "in",
        },
        {"ts": "2026-03-01T23:58:00+08:00", "event": "held_open", "door": "南门", "held_open_s": 185},
        {"ts": 1772323200, "event": "forced_open", "door": "北门"},
        {"ts": 1772323200, "event": "denied", "method": "card", "credential": "c:00ff12"},
    ],
    (DeviceClass.AI_CAMERA, Channel.EVENT): [
        {
            "ts": "2026-03-01T15:20:11+08:00",
            "seq": 402,
            "event": "thrown_object",
            "confidence": 0.91,
            "object_id": "obj-7781",
            "bbox": [0.42, 0.18, 0.05, 0.07],
            "snapshot_url": "https://nvr.example.cn/snap/402.jpg",
            "clip_url": "https://nvr.example.cn/clip/402.mp4",
            "estimated_floor": 12,
            "camera_channel": 1,
        },
        {"ts": "2026-03-01T19:00:00+08:00", "event": "fire_lane_blocked", "state": "start", "confidence": 0.83},
        {"ts": "2026-03-01T19:25:00+08:00", "event": "fire_lane_blocked", "state": "stop", "confidence": 0.8},
        {"ts": 1772323200, "event": "ebike_in_elevator", "confidence": 0.77, "camera_channel": 3},
    ],
    (DeviceClass.MANHOLE_COVER, Channel.TELEMETRY): [
        {"ts": "2026-03-01T06:00:00+08:00", "tilt_deg": 0.8, "water_level_cm": -140, "battery_pct": 71},
        {"ts": 1772323200, "seq": 12, "tilt_deg": 35, "open": True},
    ],
    (DeviceClass.MANHOLE_COVER, Channel.EVENT): [
        {"ts": "2026-03-01T02:14:00+08:00", "event": "opened", "tilt_deg": 62},
        {"ts": 1772323200, "event": "overflow"},
    ],
    (DeviceClass.TRASH_BIN, Channel.TELEMETRY): [
        {"ts": "2026-03-01T10:00:00+08:00", "fill_pct": 64, "temperature_c": 19, "battery_pct": 80},
        {"ts": 1772323200, "seq": 3, "fill_pct": 100},
    ],
    (DeviceClass.TRASH_BIN, Channel.EVENT): [
        {"ts": "2026-03-01T10:30:00+08:00", "event": "full", "fill_pct": 96},
        {"ts": 1772323200, "event": "fire"},
        {"ts": 1772323200, "event": "emptied", "fill_pct": 2},
    ],
    (DeviceClass.GAS_DETECTOR, Channel.TELEMETRY): [
        {"ts": "2026-03-01T11:00:00+08:00", "gas_lel_pct": 0, "co_ppm": 3, "battery_pct": 100},
        {"ts": 1772323200, "seq": 88, "gas_lel_pct": 4.5},
    ],
    (DeviceClass.GAS_DETECTOR, Channel.EVENT): [
        {"ts": "2026-03-01T11:42:00+08:00", "event": "alarm", "gas_lel_pct": 25},
        {"ts": "2026-03-01T11:42:03+08:00", "event": "valve_closed"},
        {"ts": 1772323200, "event": "alarm_cleared", "gas_lel_pct": 1},
    ],
    (DeviceClass.EBIKE_CHARGER, Channel.TELEMETRY): [
        {"ts": "2026-03-01T21:00:00+08:00", "port": 3, "charging": True, "power_w": 260, "current_a": 1.2},
        {"ts": 1772323200, "seq": 900, "charging": False},
    ],
    (DeviceClass.EBIKE_CHARGER, Channel.EVENT): [
        {"ts": "2026-03-01T21:00:00+08:00", "event": "started", "port": 3},
        {"ts": "2026-03-01T23:10:00+08:00", "event": "overtemperature", "port": 3, "temperature_c": 78},
        {"ts": 1772323200, "event": "smoke", "port": 7},
    ],
}
for _cls in DeviceClass:
    EXAMPLES[(_cls, Channel.STATUS)] = _STATUS

if set(EXAMPLES) != set(MODELS):  # pragma: no cover - guards edits of payloads.MODELS
    raise AssertionError(f"examples missing for {sorted(set(MODELS) - set(EXAMPLES))}")


def examples_for(device_class: DeviceClass, channel: Channel) -> list[Example]:
    """Deep copies of the examples for a class on a channel (empty when the class does not use it), so callers
    may change them (the simulator sets `ts` and `seq`)."""
    return copy.deepcopy(EXAMPLES.get((device_class, channel), []))


def validated_examples(device_class: DeviceClass, channel: Channel) -> list[Payload]:
    """The examples as validated payload models."""
    model = MODELS[(device_class, channel)]
    return [model.model_validate(e) for e in examples_for(device_class, channel)]
