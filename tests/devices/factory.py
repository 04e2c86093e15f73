"""A tiny hand-built registry whose shape every test can reason about."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

from devices.model import (
    Building,
    CareProfile,
    Community,
    Contact,
    Device,
    DeviceClass,
    DutyShift,
    Grid,
    Household,
    MicroGrid,
    Person,
    QuietHours,
    Role,
    Street,
)
from devices.registry import Registry

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=CST)


def tiny_kwargs() -> dict[str, list[object]]:
    return {
        "streets": [Street("st", "幸福街道")],
        "communities": [Community("c1", "阳光社区", "st"), Community("c2", "和平社区", "st")],
        "grids": [Grid("g1", "第一网格", "c1"), Grid("g2", "第一网格", "c2")],
        "microgrids": [MicroGrid("m1", "桂花苑微网格", "g1"), MicroGrid("m2", "和平新村微网格", "g2")],
        "buildings": [
            Building("b1", "1号楼", "m1", 6),
            Building("b2", "2号楼", "m1", 6),
            Building("b3", "3号楼", "m2", 18),
        ],
        "households": [
            Household(
                "h1",
                "b1",
                "1-101",
                1,
                CareProfile(
                    True,
                    True,
                    True,
                    (Contact("王伟", "13800000000", "儿子"), Contact("李娜", "13900000000", "")),
                    QuietHours(time(22), time(6)),
                    datetime(2026, 3, 5, 18, tzinfo=CST),
                    "住院 hospital stay",
                ),
            ),
            Household("h2", "b1", "1-102", 1),
            Household("h3", "b3", "3-1801", 18),
        ],
        "people": [
            Person("p-st", "赵强", Role.STREET_DUTY, "st"),
            Person("p-c1", "钱敏", Role.COMMUNITY_DUTY, "c1", "13700000000"),
            Person("p-l1", "孙磊", Role.MICROGRID_LEADER, "m1"),
            Person("p-w1", "周杰", Role.GRID_WORKER, "m1"),
            Person("p-w2", "吴静", Role.GRID_WORKER, "m1"),
        ],
        "roster": [
            DutyShift("p-l1", "m1", T0, T0 + timedelta(hours=12)),
            DutyShift("p-w1", "m1", T0, T0 + timedelta(hours=12)),
            DutyShift("p-w2", "m1", T0 + timedelta(hours=12), T0 + timedelta(hours=24)),
            DutyShift("p-w1", "m1", datetime(2026, 3, 1, 12, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)),
        ],
        "devices": [
            Device("WM-1", DeviceClass.WATER_METER, "b1", "h1", 3600),
            Device("SD-1", DeviceClass.SMOKE_DETECTOR, "b1", "h1"),
            Device("SD-2", DeviceClass.SMOKE_DETECTOR, "b1", None, label="3F 楼梯间"),
            Device("AC-1", DeviceClass.ACCESS_CONTROL, "b3", None, 300),
            Device("WM-3", DeviceClass.WATER_METER, "b3", "h3", 86400),
        ],
    }


def tiny() -> Registry:
    return Registry(**tiny_kwargs())  # type: ignore[arg-type]
