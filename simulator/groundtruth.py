"""Ground truth: which alert each incident must raise, for which device or household, by when.

Records follow the format shared with the rules engineer: {"incident", "rule_id", "target", "target_kind",
"start", "deadline"} (epoch seconds), plus `required` — false for conditions that really happened in the
background (a battery crossing 15 %, a bin filling up, a network outage) or that follow from an incident
(a fire not cleared for 10 minutes): an alert for them is correct, so it is not a false alert, but missing
it does not lower recall, because the scenario did not ask for it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from devices.classes import offline_limit
from devices.model import Household
from simulator.errors import RecordingError
from simulator.incidents import GROUP_OF, Incident
from simulator.message import CST
from simulator.world import World

MINUTE = 60.0
MAX_SKEW_S = 300.0
"""Largest device clock error the simulator gives a device (within the ingester's max_future_s)."""
HOUR = 3600.0

#: incident kind -> the rule that must catch it (canonical, shared with rules/default_rules.yaml)
RULE_OF: dict[str, str] = {
    "elderly_fall": "elderly_no_water",
    "kitchen_fire": "smoke_alarm",
    "thrown_object": "thrown_object",
    "door_forced": "door_forced",
    "door_held_open": "door_held_open",
    "face_fail_burst": "face_fail_burst",
    "duress": "door_duress",
    "tap_left_running": "water_continuous_flow",
    "meter_silent": "device_offline",
    "device_offline": "device_offline",
    "fire_lane_blocked": "fire_lane_blocked",
    "ebike_in_elevator": "ebike_in_elevator",
    "shed_smoke": "camera_smoke_fire",
    "gas_leak": "gas_leak",
    "manhole_open": "manhole_open",
    "trash_fire": "trash_fire",
    "water_leak": "water_leak",
    "charger_overheat": "ebike_charger_danger",
    "gateway_outage": "gateway_offline",
    "power_cut": "gateway_offline",
    "network_outage": "gateway_offline",
}
MAINS_WAIT_S = 600.0
"""The outage rule's wait for mains devices (rules/default_rules.yaml, `gateway_offline`, `power: mains`)."""

#: rules that also fire, correctly, because of an incident (tolerated, not required)
ALSO_FIRES: dict[str, tuple[tuple[str, float], ...]] = {
    "kitchen_fire": (("smoke_not_cleared", 10 * MINUTE), ("smoke_concentration", 0.0)),
    "water_leak": (("water_continuous_flow", 2 * HOUR), ("elderly_high_use", 0.0)),
    "tap_left_running": (("elderly_high_use", 0.0), ("water_leak", 0.0)),
    "elderly_fall": (("elderly_unusual_inactivity", 0.0),),
    "thrown_object": (("thrown_object_repeated", 0.0),),
    "shed_smoke": (("ebike_charger_danger", 0.0),),
    "door_forced": (("door_held_open", 5 * MINUTE),),
    "charger_overheat": (("ebike_charger_danger", 0.0),),
}


@dataclass(frozen=True, slots=True)
class Truth:
    incident: str
    rule_id: str
    target: str
    target_kind: str  # "device" | "household" | "gateway" | "building" | "community"
    start: float
    deadline: float
    required: bool = True
    id: str = ""

    @classmethod
    def background(
        cls, incident: str, rule_id: str, target: str, target_kind: str, start: float, deadline: float
    ) -> Truth:
        """A tolerated record of something that happened in the background. Its window is widened by the
        largest clock skew (alerts carry the device's time) and a second (NB-IoT devices send whole seconds)."""
        pad = MAX_SKEW_S + 1.0
        return cls(incident, rule_id, target, target_kind, round(start - pad, 3), round(deadline + pad, 3), False, "bg")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _quiet_end_after(h: Household | None, t: float) -> float | None:
    """If local time t is inside the household's quiet hours, the epoch of their end; else None."""
    if h is None or h.care.quiet_hours is None:
        return None
    q = h.care.quiet_hours
    local = datetime.fromtimestamp(t, CST)
    if not q.contains(local.time()):
        return None
    end = local.replace(hour=q.end.hour, minute=q.end.minute, second=0, microsecond=0)
    if end <= local:
        end = datetime.fromtimestamp(end.timestamp() + 86_400, CST)
    return end.timestamp()


def deadline_of(inc: Incident, world: World, offline_k: float, trigger: float | None = None) -> float:
    """When the alert for an incident must have been raised (event time).

    Event-like incidents must be caught within a minute of the message that shows them (`trigger`, the 5th
    face failure for a burst). Where a rule must wait (door held 5 min, flow for 2 h, silence for the device's
    offline limit, no water for 12 h) the wait is added; for a tap left running the meter's reporting interval
    is added too, because no rule can see flow before the meter reports it."""
    dev = world.devices[inc.device_id]
    at = trigger if trigger is not None else inc.start
    kind = inc.kind
    if kind == "elderly_fall":
        t = inc.start + 12 * HOUR
        quiet_end = _quiet_end_after(world.household(inc.household_id), t)
        return max(t, quiet_end or t) + MINUTE
    if kind == "face_fail_burst":
        return inc.start + 4 * FACE_GAP_S + MINUTE
    if kind == "door_held_open":
        return inc.start + 5 * MINUTE + MINUTE
    if kind == "tap_left_running":
        return inc.start + 2 * HOUR + dev.expected_interval_s + MINUTE
    if kind in ("meter_silent", "device_offline"):
        return inc.start + offline_limit(dev, offline_k) + MINUTE
    if kind == "gateway_outage":
        # its meters are silent after half their limit, the last of them an interval later; then the
        # outage rule's wait of an hour (rules/default_rules.yaml, `gateway_offline`)
        return inc.start + 0.5 * offline_limit(dev, offline_k) + dev.expected_interval_s + HOUR + MINUTE
    if kind in ("power_cut", "network_outage"):
        # its mains devices are silent after half their limit, the last of them an interval later (and a
        # skewed clock's error); then the outage rule's wait for mains devices
        return (
            inc.start
            + 0.5 * offline_limit(dev, offline_k)
            + dev.expected_interval_s
            + MAX_SKEW_S
            + MAINS_WAIT_S
            + MINUTE
        )
    if kind == "fire_lane_blocked":
        return inc.start + FIRE_LANE_MIN_S + MINUTE
    return at + MINUTE


FIRE_LANE_MIN_S = 10 * MINUTE
FACE_GAP_S = 25.0  # simulator.models.access.FACE_GAP_S (not imported: models import this module)
"""A fire lane counts as blocked after this long (delivery vans stop for a few minutes)."""


def truths_of(inc: Incident, world: World, offline_k: float, trigger: float | None = None) -> list[Truth]:
    """The required record of an incident, plus the tolerated records of rules it also trips."""
    rule = RULE_OF[inc.kind]
    household_rule = rule in ("elderly_no_water",)
    target = inc.household_id if household_rule and inc.household_id else inc.device_id
    kind = "household" if household_rule and inc.household_id else "device"
    level = GROUP_OF.get(inc.kind)
    if level is not None:
        target, kind = f"{level}:{inc.params[level]}", level
    deadline = deadline_of(inc, world, offline_k, trigger)
    ident = f"{inc.index + 1}"
    out = [Truth(inc.kind, rule, target, kind, round(inc.start, 3), round(deadline, 3), True, ident)]
    for also, wait in ALSO_FIRES.get(inc.kind, ()):
        h_rule = also.startswith("elderly_")
        tgt = inc.household_id if h_rule and inc.household_id else inc.device_id
        tk = "household" if h_rule and inc.household_id else "device"
        late = max(inc.end, inc.start + wait) + 6 * HOUR
        out.append(Truth(inc.kind, also, tgt, tk, round(inc.start, 3), round(late, 3), False, ident))
    return out


def write_truth(truths: Iterable[Truth], path: str | Path) -> None:
    """One JSON object per line, sorted by start then target: a stable file to diff."""
    rows = sorted(truths, key=lambda t: (t.start, t.target, t.rule_id))
    with open(path, "w", encoding="utf-8") as f:
        for t in rows:
            f.write(json.dumps(t.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n")


def read_truth(path: str | Path) -> list[Truth]:
    out: list[Truth] = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                out.append(
                    Truth(
                        incident=str(d["incident"]),
                        rule_id=str(d["rule_id"]),
                        target=str(d["target"]),
                        target_kind=str(d["target_kind"]),
                        start=float(d["start"]),
                        deadline=float(d["deadline"]),
                        required=bool(d.get("required", True)),
                        id=str(d.get("id", "")),
                    )
                )
            except (ValueError, KeyError, TypeError) as e:
                raise RecordingError(f"{path}:{n}: not a ground-truth record: {e}") from None
    return out
