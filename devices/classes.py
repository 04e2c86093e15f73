"""What each device class is powered by, and how long a device of it may be silent before it is offline.

A battery radio device (NB-IoT, LoRa) sleeps between reports, and the network drops some of them: real hourly
water meters miss reports in runs of hours and send the catch-up later, and NB-IoT meters often upload once a
day. Mains devices on a wired or Wi-Fi network (cameras, door controllers, chargers) report every few minutes
and are either up or down. So the silence that means "offline" depends on the class, not only on the reporting
interval: `offline_after` is the least silence before a device of the class counts as offline. The heartbeat
rule takes the longer of it and k x the device's interval, and a device's own registry value
(`Device.offline_after_s`: a meter known to upload once a day, a detector on mains) replaces both. docs/rules.md
gives the table with the reasons for each value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from devices.model import Device, DeviceClass

__all__ = ["CLASSES", "ClassFacts", "Power", "offline_limit"]

MINUTE = 60
HOUR = 3600


class Power(StrEnum):
    BATTERY = "battery"
    MAINS = "mains"


@dataclass(frozen=True, slots=True)
class ClassFacts:
    """`offline_after`: seconds of silence below which a device of the class is never called offline."""

    power: Power
    offline_after: int
    why: str  # one line for the docs table


CLASSES: Mapping[DeviceClass, ClassFacts] = MappingProxyType(
    {
        DeviceClass.WATER_METER: ClassFacts(
            Power.BATTERY,
            24 * HOUR,
            "NB-IoT/LoRa; misses hourly reports in runs of hours (real meters: 1.6 silences over 12 h per "
            "meter-month, 0.3 over 24 h); many upload once a day",
        ),
        DeviceClass.SMOKE_DETECTOR: ClassFacts(
            Power.BATTERY,
            2 * HOUR,
            "NB-IoT/LoRa, life safety: BS 5839-1 shows a lost radio link within 2 h; a daily heartbeat makes "
            "k x interval the limit",
        ),
        DeviceClass.GAS_DETECTOR: ClassFacts(
            Power.BATTERY, 2 * HOUR, "battery radio (or mains), life safety: as smoke detectors"
        ),
        DeviceClass.MANHOLE_COVER: ClassFacts(Power.BATTERY, 12 * HOUR, "NB-IoT under a lid, every few hours"),
        DeviceClass.TRASH_BIN: ClassFacts(Power.BATTERY, 12 * HOUR, "NB-IoT fill sensor; a missed hour matters little"),
        DeviceClass.AI_CAMERA: ClassFacts(Power.MAINS, 10 * MINUTE, "mains, wired network; up or down"),
        DeviceClass.ACCESS_CONTROL: ClassFacts(Power.MAINS, 10 * MINUTE, "mains, wired network; up or down"),
        DeviceClass.EBIKE_CHARGER: ClassFacts(Power.MAINS, 10 * MINUTE, "mains, wired or 4G; up or down"),
    }
)


def offline_limit(
    device: Device,
    k: float,
    intervals: Mapping[DeviceClass, float] | None = None,
    offline_after: Mapping[DeviceClass, float] | None = None,
) -> float:
    """Seconds of silence after which `device` is offline: its registry `offline_after_s` if set, else the
    longer of `k` x its reporting interval and its class's `offline_after` (`intervals` and `offline_after`: a
    rule's per-class replacements for the registry interval and the class value)."""
    if device.offline_after_s is not None:
        return float(device.offline_after_s)
    cls = device.device_class
    interval = intervals.get(cls) if intervals is not None else None
    floor = offline_after.get(cls) if offline_after is not None else None
    return max(
        k * (float(device.expected_interval_s) if interval is None else interval),
        float(CLASSES[cls].offline_after) if floor is None else floor,
    )
