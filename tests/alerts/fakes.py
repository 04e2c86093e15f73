"""A small grid for alerts tests: street S1 → community C1 → grids G1 (M1, M2) and G2 (M3); devices d1 (in M1)
and d2 (in M2).

Stands in for the devices Registry with the same four look-ups the alerts package uses."""

from __future__ import annotations

from datetime import datetime

from alerts.model import Account
from devices.model import Person, Role
from rules.alert import Alert, AlertAction, Severity

PARENT = {"C1": "S1", "G1": "C1", "G2": "C1", "M1": "G1", "M2": "G1", "M3": "G2", "d1": "M1", "d2": "M2"}

PEOPLE = [
    Person("p-w1", "王芳", Role.GRID_WORKER, "M1"),
    Person("p-w1b", "赵磊", Role.GRID_WORKER, "M1"),
    Person("p-l1", "李强", Role.MICROGRID_LEADER, "M1"),
    Person("p-w2", "陈静", Role.GRID_WORKER, "M2"),
    Person("p-l2", "刘洋", Role.MICROGRID_LEADER, "M2"),
    Person("p-g1", "周敏", Role.GRID_WORKER, "G1"),
    Person("p-c1", "孙伟", Role.COMMUNITY_DUTY, "C1"),
    Person("p-s1", "吴军", Role.STREET_DUTY, "S1"),
]


class FakeHierarchy:
    def __init__(self) -> None:
        self.duty: dict[str, list[str]] = {"M1": ["p-w1"]}  # M2 and M3: nobody on duty
        self.people = {p.id: p for p in PEOPLE}

    def chain_above(self, node_id: str) -> list[str]:
        out = []
        while node_id in PARENT:
            node_id = PARENT[node_id]
            out.append(node_id)
        return out

    def is_within(self, node_id: str, ancestor_id: str) -> bool:
        if node_id == ancestor_id:  # like the registry: a node is within itself only if it exists
            return node_id in PARENT or node_id == "S1"
        return ancestor_id in self.chain_above(node_id)

    def people_at(self, node_id: str, role: Role) -> list[Person]:
        return [p for p in PEOPLE if p.scope_id == node_id and p.role == role]

    def on_duty(self, microgrid_id: str, when: datetime) -> list[Person]:
        ids = self.duty.get(microgrid_id, [])
        return [p for p in PEOPLE if p.id in ids]


def account(username: str, role: Role, scope: str, person_id: str | None = None, id_: int = 1) -> Account:
    return Account(id_, username, role, scope, username, person_id)


WORKER_M1 = account("w1", Role.GRID_WORKER, "M1", "p-w1", 1)
WORKER_M2 = account("w2", Role.GRID_WORKER, "M2", "p-w2", 2)
LEADER_M1 = account("l1", Role.MICROGRID_LEADER, "M1", "p-l1", 3)
COMMUNITY = account("c1", Role.COMMUNITY_DUTY, "C1", "p-c1", 4)
OPERATOR = account("op", Role.OPERATOR, "S1", None, 5)
GRID_G2 = account("g2", Role.COMMUNITY_DUTY, "G2", None, 6)


def alert(
    key: str = "smoke_alarm:d1",
    action: AlertAction = AlertAction.RAISE,
    severity: Severity = Severity.MAJOR,
    ts: float = 1_000.0,
    microgrid: str = "M1",
    rule: str = "smoke_alarm",
    *,
    group: str | None = None,
    until: float | None = None,
    details: dict[str, object] | None = None,
) -> Alert:
    return Alert(
        action=action,
        rule_id=rule,
        dedup_key=key,
        severity=severity,
        ts=ts,
        microgrid_id=microgrid,
        title=f"{rule} {key}",
        device_id=key.split(":")[-1],
        building_id="B1",
        community_id="C1",
        details={"k": 1} if details is None else details,
        until=until,
        group=group,
    )
