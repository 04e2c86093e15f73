"""Offline that fits the device: per-class limits, and one ticket for many devices silent behind one gateway."""

from __future__ import annotations

from dataclasses import replace

import pytest

from devices.model import Building, Community, Device, DeviceClass, Grid, Household, MicroGrid, Street
from devices.registry import Registry
from rules.alert import Alert
from rules.engine import Engine
from rules.errors import RuleConfigError
from tests.rules.support import T0, H, M, clears, default_rules, engine, raises, reading, registry, ruleset

HB = """
rules:
  - id: device_offline
    kind: heartbeat
    title: Offline
    severity: minor
    k: 3
"""

OUTAGE = (
    HB
    + """
  - id: gateway_offline
    kind: outage
    title: Devices offline together
    severity: major
    of: device_offline
"""
)


def _meter(eng: Engine, reg: Registry, dev: str, ts: float, m3: float = 1.0) -> list[Alert]:
    return eng.process(reading(reg, dev, "telemetry", ts, volume_m3=m3))


def test_a_meter_silent_for_a_day_is_reported_and_three_missed_hours_are_not() -> None:
    reg = registry()
    eng = engine(HB.replace("k: 3", "k: 3\n    device_class: water_meter"), reg, allowed_lateness_s=0)
    out: list[Alert] = []
    for h in range(0, 48):  # WM2 reports every hour throughout; WM1 misses 3 reports, then goes silent
        ts = T0 + h * H
        out += _meter(eng, reg, "WM2", ts)
        if h <= 10 or h == 14 or h == 15:
            out += _meter(eng, reg, "WM1", ts)
    out += eng.advance(T0 + 48 * H)
    assert [a.device_id for a in raises(out)] == ["WM1"]  # WM3 reports daily and was never heard: 3 days
    [r] = raises(out)
    assert r.ts == T0 + 15 * H + 24 * H  # a day after its last message, not after the gap of 3 h before it
    assert r.details["limit_s"] == 24 * H


def test_mains_devices_go_offline_in_minutes() -> None:
    reg = registry()
    eng = engine(HB.replace("k: 3", "k: 3\n    device_class: ai_camera"), reg, allowed_lateness_s=0)
    eng.process(reading(reg, "CAM1", "status", T0, state="heartbeat"))
    eng.process(reading(reg, "CAM2", "status", T0, state="heartbeat"))
    [a, b] = raises(eng.advance(T0 + H))
    assert a.ts == b.ts == T0 + 15 * M  # 3 x 300 s, longer than the class's 10 min


def test_offline_after_per_class_replaces_the_class_default() -> None:
    reg = registry()
    text = HB.replace("k: 3", "k: 3\n    device_class: water_meter\n    offline_after: {water_meter: 6h}")
    eng = engine(text, reg, allowed_lateness_s=0)
    _meter(eng, reg, "WM1", T0 + H)
    _meter(eng, reg, "WM2", T0 + H)
    assert raises(eng.advance(T0 + 6 * H + 59 * M)) == []
    assert [(a.device_id, a.ts) for a in raises(eng.advance(T0 + 8 * H))] == [("WM1", T0 + 7 * H), ("WM2", T0 + 7 * H)]


def test_a_device_s_own_offline_limit_replaces_its_class_default() -> None:
    base = registry()
    mains = replace(base.devices["GD1"], id="GD2", offline_after_s=20 * 60)  # a gas detector on mains
    daily = replace(base.devices["WM1"], id="WM9", offline_after_s=3 * 86_400)  # a meter that uploads daily
    reg = registry(extra_devices=(mains, daily))
    eng = engine(HB.replace("k: 3", "k: 3\n    device_class: [gas_detector, water_meter]"), reg, allowed_lateness_s=0)
    for dev in ("GD1", "GD2", "WM1", "WM9"):
        eng.process(reading(reg, dev, "telemetry", T0, **({"volume_m3": 1.0} if dev.startswith("WM") else {})))
    out = eng.advance(T0 + 4 * 86_400)
    first = {a.device_id: a.ts - T0 for a in raises(out) if a.device_id in ("GD1", "GD2", "WM1", "WM9")}
    assert first == {"GD2": 20 * M, "GD1": 3 * H, "WM1": 24 * H, "WM9": 3 * 86_400}


def test_the_shipped_offline_rule_asks_for_its_ticket_to_reopen_within_a_week() -> None:
    """A meter that drops off again days after it came back is its resolved ticket reopened, not a new one
    (`reopen_within`, carried by the alert for the alerts service); it is still reported each time."""
    reg = registry()
    shipped = default_rules(reg).by_id("device_offline")
    assert shipped is not None
    assert shipped.reopen_within == 7 * 86_400
    text = HB.replace("k: 3", "k: 3\n    device_class: water_meter\n    reopen_within: 7d")
    eng = engine(text, reg, allowed_lateness_s=0)
    _meter(eng, reg, "WM1", T0)
    first = raises(eng.advance(T0 + 25 * H))
    _meter(eng, reg, "WM1", T0 + 30 * H)
    again = raises(eng.advance(T0 + 55 * H))
    wm1 = [a for a in first + again if a.device_id == "WM1"]
    assert [a.ts for a in wm1] == [T0 + 24 * H, T0 + 54 * H]
    assert {a.reopen_within for a in wm1} == {7 * 86_400}


def _gateway_street(n: int = 30, others: int = 30) -> Registry:
    """`n` hourly meters behind gateway gw1 in buildings b0-b2, and `others` behind gw2 in b3-b5."""
    buildings = [Building(f"b{i}", f"{i}号楼", "mg1", 6) for i in range(6)]
    homes, devices = [], []
    for i in range(n + others):
        b = f"b{i * 3 // n}" if i < n else f"b{3 + (i - n) * 3 // others}"
        homes.append(Household(f"h{i}", b, str(i), 1))
        devices.append(
            Device(f"WM{i}", DeviceClass.WATER_METER, b, f"h{i}", 3600, gateway_id="gw1" if i < n else "gw2")
        )
    return Registry(
        streets=[Street("s1", "s")],
        communities=[Community("c1", "c", "s1")],
        grids=[Grid("g1", "g", "c1")],
        microgrids=[MicroGrid("mg1", "m", "g1")],
        buildings=buildings,
        households=homes,
        devices=devices,
    )


def _hour(eng: Engine, reg: Registry, h: float, devices: list[str]) -> list[Alert]:
    """Each of `devices` reports once in hour `h`, a minute apart (registry order)."""
    out: list[Alert] = []
    for i, d in enumerate(devices):
        out += _meter(eng, reg, d, T0 + h * H + i * M * 0.5)
    return out


def test_thirty_meters_behind_one_gateway_raise_one_ticket_and_a_straggler_its_own() -> None:
    reg = _gateway_street()
    eng = Engine(default_rules(reg), reg, allowed_lateness_s=0)
    gw1 = [f"WM{i}" for i in range(30)]
    gw2 = [f"WM{i}" for i in range(30, 60)]
    out: list[Alert] = []
    for h in range(0, 5):
        out += _hour(eng, reg, h, gw1 + gw2)
    # gw1 is down from hour 5 to hour 40 (longer than the meters' own day); gw2 keeps reporting
    for h in range(5, 40):
        out += _hour(eng, reg, h, gw2)
    assert raises(out, "device_offline") == []
    [g] = raises(out, "gateway_offline")
    assert g.dedup_key == "gateway_offline:gateway:gw1"
    assert g.details["level"] == "gateway"
    assert g.details["devices"] == 30
    # half a meter's day after the gateway's last reports, and the outage's wait of an hour
    assert T0 + 4 * H + 12 * H < g.ts <= T0 + 4 * H + 15 * M + 12 * H + H
    # the gateway comes back: all its meters but WM7 report again
    back = [d for d in gw1 if d != "WM7"]
    after: list[Alert] = []
    for h in range(40, 80):
        after += _hour(eng, reg, h, back + gw2)
    after += eng.advance(T0 + 80 * H)
    [c] = clears(after, "gateway_offline")
    assert c.ts < T0 + 41 * H
    assert [(a.rule_id, a.device_id) for a in raises(after)] == [("device_offline", "WM7")]
    [own] = raises(after)
    assert c.ts + 12 * H - 1 <= own.ts <= c.ts + 12 * H + 1  # silent half its day after the gateway came back


def test_a_whole_community_down_is_one_ticket_not_one_per_gateway() -> None:
    reg = _gateway_street()
    eng = Engine(default_rules(reg), reg, allowed_lateness_s=0)
    every = [f"WM{i}" for i in range(60)]
    out: list[Alert] = []
    for h in range(0, 5):
        out += _hour(eng, reg, h, every)
    out += eng.advance(T0 + 30 * H)
    assert raises(out, "device_offline") == []
    opened = {a.dedup_key for a in raises(out, "gateway_offline")} - {a.dedup_key for a in clears(out)}
    assert opened == {"gateway_offline:community:c1"}


def test_a_few_silent_meters_are_no_outage() -> None:
    reg = _gateway_street()
    eng = Engine(default_rules(reg), reg, allowed_lateness_s=0)
    every = [f"WM{i}" for i in range(60)]
    quiet = {"WM1", "WM2", "WM3", "WM4"}  # four of gw1's thirty: under min_devices and min_share
    out: list[Alert] = []
    for h in range(0, 30):
        out += _hour(eng, reg, h, every if h < 2 else [d for d in every if d not in quiet])
    out += eng.advance(T0 + 30 * H)
    assert raises(out, "gateway_offline") == []
    assert sorted(a.device_id or "" for a in raises(out, "device_offline")) == sorted(quiet)


def test_outage_state_survives_a_restart() -> None:
    reg = _gateway_street()
    rules = default_rules(reg)
    eng = Engine(rules, reg, allowed_lateness_s=0)
    gw1 = [f"WM{i}" for i in range(30)]
    gw2 = [f"WM{i}" for i in range(30, 60)]
    out: list[Alert] = []
    for h in range(0, 5):
        out += _hour(eng, reg, h, gw1 + gw2)
    for h in range(5, 20):
        out += _hour(eng, reg, h, gw2)
    assert len(raises(out, "gateway_offline")) == 1
    again = Engine.restore(eng.snapshot(), rules, reg, allowed_lateness_s=0)
    later: list[Alert] = []
    for h in range(20, 40):
        later += _hour(again, reg, h, gw2)
    assert raises(later) == []  # still covered after the restart: no per-meter tickets at their day
    later += _hour(again, reg, 40, gw1 + gw2)
    assert [a.dedup_key for a in clears(later)] == ["gateway_offline:gateway:gw1"]


def test_an_outage_rule_must_name_a_heartbeat_rule() -> None:
    bad = OUTAGE.replace("of: device_offline", "of: smoke_alarm")
    with pytest.raises(RuleConfigError, match=r"rules.yaml:1\d: .*'smoke_alarm' is not a heartbeat rule"):
        ruleset(bad, registry())
    with pytest.raises(RuleConfigError, match=r"rules.yaml:\d+: .*min_share"):
        ruleset(OUTAGE + "    min_share: 2\n", registry())


def test_an_outage_on_a_live_stream() -> None:
    """Live progress (`live_slack_s`): the silence timers fire by each meter's own clock, the outage's wait by
    the watermark that the other gateway's meters move; still one ticket and no meter's own."""
    reg = _gateway_street()
    eng = Engine(default_rules(reg), reg, allowed_lateness_s=300, live_slack_s=30)
    gw1 = [f"WM{i}" for i in range(30)]
    gw2 = [f"WM{i}" for i in range(30, 60)]
    out: list[Alert] = []
    for h in range(0, 40):
        for i, d in enumerate(gw1 + gw2 if h < 5 else gw2):
            ts = T0 + h * H + i * 30
            out += eng.process(reading(reg, d, "telemetry", ts, received_at=ts + 2, volume_m3=1.0))
            out += eng.advance_live(ts + 3)
        out += eng.advance(T0 + h * H + 40 * M)
    assert raises(out, "device_offline") == []
    assert [a.dedup_key for a in raises(out, "gateway_offline")] == ["gateway_offline:gateway:gw1"]


def _power_street(buildings: int = 3) -> Registry:
    """Buildings b0.. of one community, each with 4 cameras and 2 door controllers on mains (every 5 min) and 12
    battery water meters (hourly, behind no gateway): the mains devices are a third of each building."""
    homes, devices = [], []
    for b in range(buildings):
        for i in range(4):
            devices.append(Device(f"CAM{b}-{i}", DeviceClass.AI_CAMERA, f"b{b}", None, 300))
        for i in range(2):
            devices.append(Device(f"AC{b}-{i}", DeviceClass.ACCESS_CONTROL, f"b{b}", None, 300))
        for i in range(12):
            homes.append(Household(f"h{b}-{i}", f"b{b}", str(i), 1))
            devices.append(Device(f"WM{b}-{i}", DeviceClass.WATER_METER, f"b{b}", f"h{b}-{i}", 3600))
    return Registry(
        streets=[Street("s1", "s")],
        communities=[Community("c1", "c", "s1")],
        grids=[Grid("g1", "g", "c1")],
        microgrids=[MicroGrid("mg1", "m", "g1")],
        buildings=[Building(f"b{b}", f"{b}号楼", "mg1", 6) for b in range(buildings)],
        households=homes,
        devices=devices,
    )


def _live(eng: Engine, reg: Registry, until: float, dead: dict[str, tuple[float, float]]) -> list[Alert]:
    """Every device reports on its interval (device i of the registry offset by 7 s x i) from T0 to T0 + `until`,
    except while `dead` holds it ((from, to) after T0); the engine is advanced every minute."""
    out: list[Alert] = []
    devs = list(reg.devices.values())
    nxt = {d.id: T0 + 7.0 * i % d.expected_interval_s for i, d in enumerate(devs)}
    for m in range(int(until / M)):
        now = T0 + m * M
        for d in devs:
            while nxt[d.id] <= now:
                ts = nxt[d.id]
                nxt[d.id] += d.expected_interval_s
                cut = dead.get(d.id)
                if cut is not None and T0 + cut[0] <= ts < T0 + cut[1]:
                    continue
                if d.device_class is DeviceClass.WATER_METER:
                    out += _meter(eng, reg, d.id, ts)
                else:
                    out += eng.process(reading(reg, d.id, "status", ts, state="heartbeat"))
        out += eng.advance(now)
    return out


def _mains(reg: Registry, building: str | None = None) -> list[str]:
    return [
        d.id
        for d in reg.devices.values()
        if d.device_class is not DeviceClass.WATER_METER and (building is None or d.building_id == building)
    ]


def test_a_power_cut_in_a_building_is_one_ticket_while_its_battery_meters_report() -> None:
    """The six mains devices of b0 go dark for 3 h; its twelve battery meters keep reporting, so only a third of
    the building is silent: counted per power class, all of its mains devices are, and that is one ticket for
    the building. A camera still dark after the power is back gets its own ticket then."""
    reg = _power_street()
    eng = Engine(default_rules(reg), reg, allowed_lateness_s=0)
    cut = 2 * H
    dead = {d: (cut, cut + 3 * H) for d in _mains(reg, "b0")}
    dead["CAM0-0"] = (cut, 10 * H)  # its own fault: still dark when the power is back
    out = _live(eng, reg, 6 * H, dead)
    [g] = raises(out, "gateway_offline")
    assert g.dedup_key == "gateway_offline:building:b0"
    assert (g.details["power"], g.details["silent"], g.details["devices"]) == (["mains"], 6, 6)
    # half a camera's 15 min after the last heartbeats before the cut, and the mains wait of 10 min
    assert T0 + cut + 7.5 * M < g.ts <= T0 + cut + 5 * M + 7.5 * M + 10 * M
    [c] = clears(out, "gateway_offline")
    assert T0 + cut + 3 * H <= c.ts < T0 + cut + 3 * H + 5 * M
    assert c.details["devices"] == 6  # its mains devices, not its 12 meters too
    [own] = raises(out, "device_offline")
    assert own.device_id == "CAM0-0"
    assert c.ts + 7.5 * M - 1 <= own.ts <= c.ts + 15 * M  # its own limit, after the building came back


def test_a_network_outage_of_a_community_is_one_ticket_not_one_per_building() -> None:
    reg = _power_street()
    eng = Engine(default_rules(reg), reg, allowed_lateness_s=0)
    out = _live(eng, reg, 4 * H, {d: (H, 3 * H) for d in _mains(reg)})
    assert raises(out, "device_offline") == []
    [g] = raises(out, "gateway_offline")
    assert g.dedup_key == "gateway_offline:community:c1"
    assert (g.details["silent"], g.details["devices"]) == (18, 18)
    assert [a.dedup_key for a in clears(out)] == ["gateway_offline:community:c1"]


def test_mains_devices_failing_one_after_another_are_no_shared_cause() -> None:
    """Silent together, but fallen silent an hour apart (`span`: 15 min for mains): each its own ticket."""
    reg = _power_street()
    eng = Engine(default_rules(reg), reg, allowed_lateness_s=0)
    mains = _mains(reg, "b0")[:4]
    out = _live(eng, reg, 6 * H, {d: (H * (1 + i), 10 * H) for i, d in enumerate(mains)})
    assert raises(out, "gateway_offline") == []
    assert sorted(a.device_id or "" for a in raises(out, "device_offline")) == sorted(mains)
