"""A small registry with one device of every class, and a clock placed among the examples' timestamps."""

from __future__ import annotations

from devices.model import Building, Community, Device, DeviceClass, Grid, Household, MicroGrid, Street
from devices.registry import Registry

NOW = 1_772_330_000.0  # 2026-03-01T09:53:20+08:00, within a day of every example in devices.examples

DEVICE_OF_CLASS: dict[DeviceClass, str] = {
    DeviceClass.SMOKE_DETECTOR: "SD-0001",
    DeviceClass.WATER_METER: "WM-0001",
    DeviceClass.ACCESS_CONTROL: "AC-0001",
    DeviceClass.AI_CAMERA: "CAM-0001",
    DeviceClass.MANHOLE_COVER: "MH-0001",
    DeviceClass.TRASH_BIN: "TB-0001",
    DeviceClass.GAS_DETECTOR: "GD-0001",
    DeviceClass.EBIKE_CHARGER: "EC-0001",
}
IN_HOME = {DeviceClass.SMOKE_DETECTOR, DeviceClass.WATER_METER, DeviceClass.GAS_DETECTOR}


def registry(community_of_devices: str = "c1") -> Registry:
    """Every device sits in building b1 of micro-grid m1; in-home classes belong to household h1."""
    grid = "g1" if community_of_devices == "c1" else "g2"
    return Registry(
        streets=[Street("st", "幸福街道")],
        communities=[Community("c1", "阳光社区", "st"), Community("c2", "和平社区", "st")],
        grids=[Grid("g1", "第一网格", "c1"), Grid("g2", "第二网格", "c2")],
        microgrids=[MicroGrid("m1", "桂花苑", grid)],
        buildings=[Building("b1", "1号楼", "m1", 6)],
        households=[Household("h1", "b1", "1-101", 1)],
        devices=[Device(dev, cls, "b1", "h1" if cls in IN_HOME else None) for cls, dev in DEVICE_OF_CLASS.items()],
    )
