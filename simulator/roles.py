"""What a camera looks at, decided from its label (or, when the label says nothing, from its id), so the
behaviour models and the incident picker agree on which cameras can see a thrown object or a fire lane."""

from __future__ import annotations

from enum import StrEnum

from devices.model import Device
from simulator.seeding import key_of


class CameraRole(StrEnum):
    FACADE = "facade"  # high-altitude thrown objects
    FIRE_LANE = "fire_lane"
    ELEVATOR = "elevator"
    SHED = "shed"  # non-motor-vehicle shed: smoke, indoor charging
    GATE = "gate"  # intrusion, garbage dumped


_KEYWORDS: tuple[tuple[CameraRole, tuple[str, ...]], ...] = (
    (CameraRole.FACADE, ("facade", "toss", "throw", "high", "高空", "抛物", "外立面")),
    (CameraRole.FIRE_LANE, ("fire lane", "fire_lane", "firelane", "lane", "消防通道", "通道")),
    (CameraRole.ELEVATOR, ("elevator", "lift", "电梯")),
    (CameraRole.SHED, ("shed", "bicycle", "bike", "non-motor", "车棚", "非机动车")),
    (CameraRole.GATE, ("gate", "entrance", "garbage", "门", "垃圾")),
)
_ORDER = (CameraRole.FACADE, CameraRole.FIRE_LANE, CameraRole.ELEVATOR, CameraRole.SHED, CameraRole.GATE)


def camera_role(device: Device) -> CameraRole:
    label = device.label.lower()
    for role, words in _KEYWORDS:
        if any(w in label for w in words):
            return role
    return _ORDER[key_of("camera-role", device.id) % len(_ORDER)]
