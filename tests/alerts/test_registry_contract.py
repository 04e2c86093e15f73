"""The real devices Registry satisfies `alerts.scope.Hierarchy` and drives dispatch, escalation and scope."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.dispatch import choose_assignee, escalation_targets
from alerts.model import Account
from alerts.scope import Hierarchy, in_scope
from devices.model import Role
from devices.sample import sample_street


def test_sample_street_drives_dispatch_and_scope() -> None:
    reg = sample_street()
    h: Hierarchy = reg  # static check: mypy verifies the protocol here
    shift = reg.roster[0]
    when = shift.start.astimezone(UTC).timestamp() + 60
    a = choose_assignee(h, shift.microgrid_id, when)
    assert a.reason == "on_duty"
    assert a.person_id in {p.id for p in reg.on_duty(shift.microgrid_id, datetime.fromtimestamp(when, UTC))}
    chain = [nid for _, nid in reg.chain_above(shift.microgrid_id)]
    assert len(chain) == 3
    leaders = escalation_targets(h, shift.microgrid_id, 1)
    assert leaders
    assert all(p.role == Role.MICROGRID_LEADER for p in leaders)
    community_people = escalation_targets(h, shift.microgrid_id, 3)
    assert all(p.scope_id == chain[1] for p in community_people)
    other = next(m for m in reg.microgrids if m != shift.microgrid_id)
    worker = Account(1, "w", Role.GRID_WORKER, shift.microgrid_id, "w")
    community = Account(2, "c", Role.COMMUNITY_DUTY, chain[1], "c")
    assert in_scope(worker, shift.microgrid_id, h)
    assert not in_scope(worker, other, h)
    assert in_scope(community, shift.microgrid_id, h)
