"""A tiny street for rule tests, and short-hand for readings and rule files."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from devices.model import (
    Building,
    CareProfile,
    Community,
    Device,
    DeviceClass,
    Grid,
    Household,
    MicroGrid,
    QuietHours,
    Street,
)
from devices.payloads import Channel
from devices.reading import Reading, Scalar
from devices.registry import Registry
from rules.alert import Alert, AlertAction
from rules.config import RuleSet, default_ruleset_path, parse_ruleset
from rules.engine import Engine

CST = timezone(timedelta(hours=8))
# Monday 2026-03-02 00:00 China time
T0 = datetime(2026, 3, 2, 0, 0, tzinfo=CST).timestamp()
H = 3600.0
M = 60.0

WATCHED = CareProfile(lives_alone=True, elderly=True, consent=True, quiet_hours=QuietHours(time(22), time(6)))


def registry(*, watched_care: CareProfile = WATCHED, extra_devices: tuple[Device, ...] = ()) -> Registry:
    """One micro-grid, two buildings; `h1` is a watched lone elderly household, `h2` a family."""
    b1, b2 = Building("b1", "1号楼", "mg1", 18), Building("b2", "2号楼", "mg1", 6)
    return Registry(
        streets=[Street("s1", "幸福街道")],
        communities=[Community("c1", "阳光社区", "s1")],
        grids=[Grid("g1", "第一网格", "c1")],
        microgrids=[MicroGrid("mg1", "桂花苑", "g1")],
        buildings=[b1, b2],
        households=[
            Household("h1", "b1", "1-101", 1, watched_care),
            Household("h2", "b1", "1-102", 1),
            Household("h3", "b2", "2-101", 1),
        ],
        devices=[
            Device("SD1", DeviceClass.SMOKE_DETECTOR, "b1", "h1", 86_400),
            Device("WM1", DeviceClass.WATER_METER, "b1", "h1", 3600),
            Device("WM2", DeviceClass.WATER_METER, "b1", "h2", 3600),
            Device("WM3", DeviceClass.WATER_METER, "b2", "h3", 86_400),
            Device("CAM1", DeviceClass.AI_CAMERA, "b1", None, 300),
            Device("CAM2", DeviceClass.AI_CAMERA, "b2", None, 300),
            Device("AC1", DeviceClass.ACCESS_CONTROL, "b1", None, 300),
            Device("GD1", DeviceClass.GAS_DETECTOR, "b1", "h2", 3600),
            Device("TB1", DeviceClass.TRASH_BIN, "b2", None, 3600),
            Device("MH1", DeviceClass.MANHOLE_COVER, "b2", None, 6 * 3600),
            Device("EB1", DeviceClass.EBIKE_CHARGER, "b2", None, 300),
            *extra_devices,
        ],
    )


def reading(
    reg: Registry,
    device_id: str,
    channel: Channel | str,
    ts: float,
    *,
    extra: dict[str, Any] | None = None,
    received_at: float = 0.0,
    **fields: Scalar,
) -> Reading:
    d = reg.devices[device_id]
    p = reg.placement(device_id)
    assert p is not None
    return Reading(
        device_id=device_id,
        device_class=d.device_class,
        channel=Channel(channel),
        ts=ts,
        seq=None,
        fields=dict(fields),
        community_id=p.community_id,
        microgrid_id=p.microgrid_id,
        building_id=p.building_id,
        household_id=p.household_id,
        received_at=received_at,
        extra=extra or {},
    )


def ruleset(text: str, reg: Registry) -> RuleSet:
    return parse_ruleset(text, reg, file=Path("rules.yaml"))


def default_rules(reg: Registry) -> RuleSet:
    return parse_ruleset(default_ruleset_path().read_text(encoding="utf-8"), reg, file=default_ruleset_path())


def engine(text: str, reg: Registry | None = None, **kw: Any) -> Engine:
    reg = reg or registry()
    return Engine(ruleset(text, reg), reg, **kw)


def raises(alerts: list[Alert], rule_id: str | None = None) -> list[Alert]:
    return [a for a in alerts if a.action is AlertAction.RAISE and (rule_id is None or a.rule_id == rule_id)]


def clears(alerts: list[Alert], rule_id: str | None = None) -> list[Alert]:
    return [a for a in alerts if a.action is AlertAction.CLEAR and (rule_id is None or a.rule_id == rule_id)]
