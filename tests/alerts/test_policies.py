"""Escalation policy files: the packaged default is today's ladder, every error of a bad file is named with its
line, hot reload keeps the running policies on a bad file, and the planner's nudges (reminders, acknowledge
timeout) as pure decisions."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.errors import PolicyConfigError
from alerts.escalation import Escalator, plan_escalation
from alerts.lifecycle import Status
from alerts.model import Ticket
from alerts.policies import LADDER, PolicyHolder, default_policies, load_policies, parse_policies
from alerts.service import TicketService
from alerts.sla import SlaPolicy
from core.clock import ManualClock
from rules.alert import Severity

from .fakes import FakeHierarchy, alert

GOOD = """\
policies:
  - name: fast
    match:
      severity: critical
    steps:
      - targets: [worker_on_duty]
        channel: [voice, sms]
        wait: 5m
      - targets: [microgrid_leader, community_duty]
        wait: 10m
    remind_every: 2m
    ack_timeout: 15m
    all_clear: true
  - name: ladder
    steps:
      - targets: [worker_on_duty]
"""

BAD = """\
policies:
  - name: fast
    match:
      severity: [critical, loud]
      rules: [smoke_alarm, no_such_rule]
    steps:
      - targets: [worker_on_duty, boss]
        channel: pigeon
        wait: 5x
    remind_every: 2m
    colour: red
  - name: fast
    steps: []
    ack_timeout_action: remind
  - name: last
    match:
      groups: [smoke]
    steps:
      - targets: [family]
"""


def ticket(**kw: object) -> Ticket:
    t = Ticket(
        1, "smoke:SD1", "smoke_alarm", Severity.CRITICAL, Status.OPEN, "t", {}, "M1", "SD1", None, None, None,
        "p-w1", 0, 1, 0.0, 0.0, 300.0, 3600.0, False, None, 0.0, 0.0,
    )  # fmt: skip
    return replace(t, **kw)  # type: ignore[arg-type]


def test_the_packaged_default_ends_with_todays_ladder() -> None:
    ps = default_policies()
    assert ps.policies[-1] == LADDER
    assert ps.for_ticket(ticket(rule_id="door_forced", dedup_key="door_forced:AC1")).name in {
        p.name for p in ps.policies
    }


def test_a_good_file_loads_and_matches_by_severity() -> None:
    ps = parse_policies(GOOD, name="policies.yaml")
    assert ps.for_ticket(ticket()).name == "fast"
    assert ps.for_ticket(ticket(severity=Severity.MAJOR)).name == "ladder"
    fast = ps.policies[0]
    assert fast.steps[0].channel_spec == "voice,sms"
    assert fast.steps[0].wait == 300
    assert fast.remind_every == 120
    assert fast.ack_timeout == 900
    assert fast.all_clear


def test_every_error_of_a_bad_file_is_named_with_its_line_and_key() -> None:
    with pytest.raises(PolicyConfigError) as e:
        parse_policies(BAD, name="policies.yaml", rules={"smoke_alarm"}, groups={"smoke"})
    problems = e.value.problems
    text = "\n".join(problems)
    assert "policies.yaml:4: policies[0].match.severity[1]: " in text  # loud is no severity
    assert "policies.yaml:7: policies[0].steps[0].targets[1]: 'boss' is not known: " in text
    assert "policies.yaml:8: policies[0].steps[0].channel: unknown channel 'pigeon'" in text
    assert "policies.yaml:9: policies[0].steps[0].wait: bad duration '5x'" in text
    assert "policies.yaml:11: policies[0].colour: unknown field 'colour'" in text
    assert "policies.yaml:13: policies[1].steps: " in text  # no steps
    assert len(problems) == 6, text


def test_checks_across_policies_name_their_lines() -> None:
    text = GOOD.replace("name: ladder", "name: fast").replace(
        "  - name: fast\n    steps:", "  - name: fast\n    match:\n      rules: [nope]\n    steps:"
    )
    with pytest.raises(PolicyConfigError) as e:
        parse_policies(text, name="p.yaml", rules={"smoke_alarm"})
    problems = e.value.problems
    assert problems == [
        "p.yaml:14: policies[1].name: duplicate policy name 'fast' (first at policies[0])",
        "p.yaml:15: policies[1].match: the last policy must have no match, so that every ticket has a policy",
        "p.yaml:16: policies[1].match.rules[0]: no rule 'nope' in the rule set",
    ]


def test_a_timeout_action_needs_its_timeout_and_remind_every_its_place() -> None:
    text = GOOD.replace("ack_timeout: 15m", "ack_timeout_action: remind").replace(
        "remind_every: 2m", "remind_every: 6m"
    )
    with pytest.raises(PolicyConfigError) as e:
        parse_policies(text, name="p.yaml")
    assert e.value.problems == [
        "p.yaml:2: policies[0]: ack_timeout_action needs ack_timeout (how long an accepted ticket may wait)"
    ]
    with pytest.raises(PolicyConfigError) as e:
        parse_policies(GOOD.replace("remind_every: 2m", "remind_every: 6m"), name="p.yaml")
    assert e.value.problems == [
        "p.yaml:11: policies[0].remind_every: remind_every must be shorter than steps[0].wait (a reminder after "
        "the next step told)"
    ]


def test_yaml_syntax_and_shape_errors() -> None:
    with pytest.raises(PolicyConfigError, match=r"^p.yaml:4: YAML"):
        parse_policies("policies:\n  - name: x\n    steps: [\n", name="p.yaml")
    with pytest.raises(PolicyConfigError, match=r"p.yaml:1: the file must be a mapping"):
        parse_policies("- 1\n", name="p.yaml")


def test_hot_reload_takes_a_good_file_and_keeps_the_running_policies_on_a_bad_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(GOOD, encoding="utf-8")
    holder = PolicyHolder(path)
    assert [p.name for p in holder().policies] == ["fast", "ladder"]
    assert not holder.maybe_reload()  # unchanged
    path.write_text(GOOD.replace("remind_every: 2m", "remind_every: 3m"), encoding="utf-8")
    assert holder.maybe_reload()
    assert holder().policies[0].remind_every == 180
    path.write_text(BAD, encoding="utf-8")
    with caplog.at_level(logging.ERROR, logger="alerts.policies"):
        assert not holder.maybe_reload()
    assert holder().policies[0].remind_every == 180  # the running policies stay
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == len(holder.last_error.problems) if holder.last_error else False
    assert any("policies.yaml:8:" in m and "pigeon" in m for m in logged)
    caplog.clear()
    assert not holder.maybe_reload()  # the same bad content is not reported again
    assert caplog.records == []


def test_a_missing_file_is_an_error_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(PolicyConfigError, match=r"gone.yaml:\?: cannot read"):
        load_policies(tmp_path / "gone.yaml")


# --- the planner's nudges -----------------------------------------------------------------------------------


def test_an_open_ticket_is_reminded_until_someone_accepts() -> None:
    policy = parse_policies(GOOD).policies[0]
    h = FakeHierarchy()
    t = ticket(nudge_at=120.0)
    assert plan_escalation(t, 119.0, SlaPolicy(), h, policy) is None
    change = plan_escalation(t, 120.0, SlaPolicy(), h, policy)
    assert change is not None
    assert change.action == "remind"
    assert change.values == {"nudge_at": 240.0}
    assert [r["id"] for r in change.recipients] == ["p-w1"]
    assert change.data["channel"] == "voice,sms"
    assert change.data["level"] == 0


def test_an_accepted_ticket_not_started_in_time_escalates_or_reminds() -> None:
    policy = parse_policies(GOOD).policies[0]
    h = FakeHierarchy()
    t = ticket(status=Status.ACKNOWLEDGED, ack_due_at=None, nudge_at=1000.0)
    change = plan_escalation(t, 1000.0, SlaPolicy(), h, policy)
    assert change is not None
    assert change.action == "escalate"
    assert change.data["reason"] == "not_started"
    assert change.values == {"nudge_at": 1900.0, "escalation_level": 1}
    assert [r["id"] for r in change.recipients] == ["p-l1", "p-c1"]
    reminding = policy.model_copy(update={"ack_timeout_action": "remind"})
    change = plan_escalation(t, 1000.0, SlaPolicy(), h, reminding)
    assert change is not None
    assert change.action == "remind"
    assert [r["id"] for r in change.recipients] == ["p-w1"]
    # started: no nudge applies
    assert plan_escalation(replace(t, status=Status.IN_PROGRESS), 1000.0, SlaPolicy(), h, policy) is None


def test_a_missed_step_moves_on_by_the_next_steps_wait() -> None:
    policy = parse_policies(GOOD).policies[0]
    change = plan_escalation(ticket(), 300.0, SlaPolicy(), FakeHierarchy(), policy)
    assert change is not None
    assert change.values["escalation_level"] == 1
    assert change.values["ack_due_at"] == 300.0 + 600  # step 1 waits 10 min
    assert change.values["nudge_at"] == 300.0 + 120  # its reminders start


async def test_the_escalation_loop_reloads_a_changed_policy_file(engine: AsyncEngine, tmp_path: Path) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(GOOD, encoding="utf-8")
    holder = PolicyHolder(path)
    h = FakeHierarchy()
    service = TicketService(engine, lambda: h, ManualClock(1000.0), policies=holder)
    escalator = Escalator(service, ManualClock(1000.0), policies=holder)
    path.write_text(GOOD.replace("wait: 5m", "wait: 7m"), encoding="utf-8")
    await escalator.run_once()
    assert holder.reloads == 1
    [t] = await service.apply([alert(severity=Severity.CRITICAL)])
    assert t.ack_due_at == 1000.0 + 420
