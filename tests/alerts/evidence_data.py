"""Telemetry for evidence charts in browser tests and screenshots: a lone elderly resident's water meter with a
daily routine that stops, and a smoke detector whose obscuration climbs to an alarm. Readings as JSON for
`board_app`'s POST /test/readings."""

from __future__ import annotations

from typing import Any

from devices.model import Device, DeviceClass
from devices.registry import Registry

HOUR_S = 3600.0
ROUTINE_L = {7: 35.0, 8: 20.0, 12: 15.0, 18: 30.0, 19: 25.0, 21: 10.0}  # litres by local hour


def reading(reg: Registry, d: Device, ts: float, fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "device_id": d.id,
        "device_class": d.device_class.value,
        "channel": "telemetry",
        "ts": ts,
        "seq": None,
        "fields": fields,
        "community_id": reg.community_of(d.id),
        "microgrid_id": reg.microgrid_of(d.id),
        "building_id": d.building_id,
        "household_id": d.household_id,
    }


def water_history(reg: Registry, meter: Device, now: float, quiet_h: float, days: int = 17) -> list[dict[str, Any]]:
    """Hourly register readings of `meter` for `days` days until `now`: the routine every day (in UTC hours, varying a
    little from day to day), nothing used in the last `quiet_h` hours."""
    start = (now // HOUR_S - days * 24) * HOUR_S
    out, m3, ts = [], 120.0, start
    while ts <= now:
        hour = int(ts // HOUR_S) % 24
        if ts < now - quiet_h * HOUR_S:
            m3 += ROUTINE_L.get(hour, 0.4) * (0.8 + 0.4 * ((int(ts // 86400) * 7) % 5) / 4) / 1000
        out.append(reading(reg, meter, ts, {"volume_m3": round(m3, 4)}))
        ts += HOUR_S
    return out


def smoke_rise(reg: Registry, detector: Device, now: float) -> list[dict[str, Any]]:
    """A smoke detector's readings every 15 minutes over 72 h: clean air, then the last hour climbing."""
    out = []
    for i in range(72 * 4, -1, -1):
        ts = now - i * 900
        smoke = 0.4 + (i % 7) * 0.05 if i > 4 else 2.0 + (4 - i) * 3.0
        out.append(
            reading(reg, detector, ts, {"smoke_obscuration_pct": round(smoke, 2), "temperature_c": 22 + (i % 9) / 3})
        )
    return out


def first_device(reg: Registry, microgrid: str, cls: DeviceClass, *, watched: bool) -> Device:
    """A device of class `cls` in `microgrid`, in a household watched by the care rules (or in none)."""
    for d in reg.devices_under(microgrid):
        if d.device_class != cls:
            continue
        h = reg.households.get(d.household_id) if d.household_id else None
        if (h is not None and h.care.watched) == watched:
            return d
    raise LookupError((microgrid, cls, watched))
