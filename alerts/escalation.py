"""Escalation along a ticket's policy (`alerts.policies`) when deadlines pass, and the policy's nudges.

`plan_escalation` is pure: given a ticket, the time and its policy, it returns the change to write (new step,
new deadlines, who was told, since when the ticket is overdue) or None. A missed deadline moves the ticket to
the policy's next step that has anyone to tell, and moves forward for that step, so the ticket keeps
`overdue_since` (the first missed deadline) until a person meets it: acknowledging meets a missed acknowledge
deadline, resolving meets both. Past the last step its people are reminded each period instead of the ticket
going silent. A nudge (`nudge_at`) reminds the current step while nobody has accepted (`remind_every`), or acts
on an accepted ticket nobody started (`ack_timeout`: the next step is told, or the assignee reminded).
Deadlines and nudges live in the ticket row, so after a restart the `Escalator` finds what is due with one
query and nothing stalls.

The step a ticket is at is its `escalation_level`; a ticket at step 0 whose step 0 asks only a family it does
not have (no consented family member) was announced to the next step (`alerts.targets.opening_step`), and
counts as being there."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from alerts.lifecycle import Status, SystemAction
from alerts.loops import sleep_or_stop
from alerts.messages import both
from alerts.model import SYSTEM_ACTOR, Ticket
from alerts.notices import Audience
from alerts.policies import LADDER, Policy, PolicyHolder, Target
from alerts.scope import Hierarchy
from alerts.sla import SlaPolicy
from alerts.store import Change
from alerts.targets import Card, first_step_with_people, ids, opening_step, step_cards, target_cards
from core.clock import Clock

log = logging.getLogger(__name__)

#: What a family told in an earlier step hears once a worker is told (the card's `notice`).
SOMEONE_COMING = "someone_coming"


def overdue_reason(ticket: Ticket, now: float) -> str | None:
    """`ack` when an open ticket missed its acknowledge deadline, `resolve` for the resolve deadline."""
    if not ticket.status.active:
        return None
    if ticket.status == Status.OPEN and ticket.ack_due_at is not None and now >= ticket.ack_due_at:
        return "ack"
    if ticket.resolve_due_at is not None and now >= ticket.resolve_due_at:
        return "resolve"
    return None


def step_wait(policy: Policy, step: int, sla: SlaPolicy, ticket: Ticket) -> float | None:
    """How long `step` waits for someone to accept: its `wait`, else the SLA's acknowledge time."""
    wait = policy.steps[min(step, len(policy.steps) - 1)].wait
    return wait if wait is not None else sla.sla(ticket.severity, ticket.rule_id).ack_s


def current_step(ticket: Ticket, policy: Policy, hierarchy: Hierarchy) -> int:
    """The step the ticket is at (see the module docstring)."""
    level = min(ticket.escalation_level, len(policy.steps) - 1)
    return opening_step(hierarchy, ticket, policy) if level == 0 else level


def first_nudge(policy: Policy, now: float) -> float | None:
    """When a new (or reopened, or reassigned) ticket's first reminder is due."""
    return None if policy.remind_every is None else now + policy.remind_every


def plan_escalation(
    ticket: Ticket, now: float, sla: SlaPolicy, hierarchy: Hierarchy, policy: Policy = LADDER
) -> Change | None:
    """The escalation or nudge to write for `ticket` at `now`, or None when nothing is due."""
    reason = overdue_reason(ticket, now)
    if reason is not None:
        return _overdue(ticket, now, sla, hierarchy, policy, reason)
    if ticket.nudge_at is not None and now >= ticket.nudge_at and ticket.status.active:
        return _nudge(ticket, now, hierarchy, policy)
    return None


def _overdue(ticket: Ticket, now: float, sla: SlaPolicy, hierarchy: Hierarchy, policy: Policy, reason: str) -> Change:
    at = current_step(ticket, policy, hierarchy)
    step, people, action = _next(ticket, hierarchy, policy, at)
    values: dict[str, Any] = {}
    if action == SystemAction.ESCALATE.value:
        values["escalation_level"] = step
    spec = sla.sla(ticket.severity, ticket.rule_id)
    # Move the missed deadline(s) forward so the next step gets its time to react; the ticket stays overdue
    missed: list[float] = []
    if ticket.ack_due_at is not None and now >= ticket.ack_due_at and ticket.status == Status.OPEN:
        missed.append(ticket.ack_due_at)
        wait = step_wait(policy, step, sla, ticket)
        values["ack_due_at"] = None if wait is None else now + wait
        if policy.remind_every is not None:  # the new step's reminders
            values["nudge_at"] = first_nudge(policy, now)
    if ticket.resolve_due_at is not None and now >= ticket.resolve_due_at:
        missed.append(ticket.resolve_due_at)
        values["resolve_due_at"] = None if spec.resolve_s is None else now + spec.resolve_s
    if ticket.overdue_since is None:
        values["overdue_since"] = min(missed, default=now)
    # a missed resolve deadline outlasts an acknowledgement: it is the reason kept once it was missed
    missed_resolve = "resolve_due_at" in values or ticket.overdue_reason == "resolve"
    overdue_for = "resolve" if missed_resolve else "ack"
    if overdue_for != ticket.overdue_reason:
        values["overdue_reason"] = overdue_for
    note = both(f"board.tl.escalate.{reason}", n=step)
    data = _data(policy, step, people, reason)
    data["overdue_since"] = ticket.overdue_since if ticket.overdue_since is not None else values["overdue_since"]
    return Change(
        action,
        SYSTEM_ACTOR,
        values,
        note=note,
        data=data,
        recipients=_told(hierarchy, ticket, policy, at, step, people),
    )


def _nudge(ticket: Ticket, now: float, hierarchy: Hierarchy, policy: Policy) -> Change | None:
    at = current_step(ticket, policy, hierarchy)
    values: dict[str, Any]
    if ticket.status == Status.OPEN and policy.remind_every is not None:
        people = step_cards(hierarchy, ticket, policy, at)
        values = {"nudge_at": now + policy.remind_every}
        note = both("board.tl.remind.remind")
        return Change(
            "remind",
            SYSTEM_ACTOR,
            values,
            note=note,
            data=_data(policy, at, people, "remind"),
            recipients=tuple(people),
        )
    if ticket.status == Status.ACKNOWLEDGED and policy.ack_timeout is not None:
        values = {"nudge_at": now + policy.ack_timeout}
        if policy.ack_timeout_action == "escalate":
            step, people, action = _next(ticket, hierarchy, policy, at)
            if action == SystemAction.ESCALATE.value:
                values["escalation_level"] = step
            note = both("board.tl.escalate.not_started", n=step)
            recipients = _told(hierarchy, ticket, policy, at, step, people)
            return Change(
                action,
                SYSTEM_ACTOR,
                values,
                note=note,
                data=_data(policy, step, people, "not_started"),
                recipients=recipients,
            )
        people = target_cards(hierarchy, ticket, Target.WORKER_ON_DUTY)
        note = both("board.tl.remind.not_started")
        return Change(
            "remind",
            SYSTEM_ACTOR,
            values,
            note=note,
            data=_data(policy, at, people, "not_started"),
            recipients=tuple(people),
        )
    return None


def plan_send_someone(
    ticket: Ticket, now: float, sla: SlaPolicy, hierarchy: Hierarchy, policy: Policy, asker: Card
) -> tuple[dict[str, Any], tuple[Card, ...], str]:
    """A family member (`asker`) asks for someone to come: (ticket values, cards, channel). When the ticket's
    step tells a worker, they are told at once; when it asks only the family (family first), the ticket moves
    on to the next step with anyone to tell, as if its wait had passed. The asker hears that someone is coming."""
    coming = {**asker, "audience": Audience.FAMILY.value, "notice": SOMEONE_COMING}
    at = current_step(ticket, policy, hierarchy)
    here = [c for c in step_cards(hierarchy, ticket, policy, at) if c["audience"] == Audience.PERSON.value]
    channel = policy.steps[at].channel_spec
    if here:
        return {}, (*here, coming), channel
    step, people, action = _next(ticket, hierarchy, policy, at)
    if action != SystemAction.ESCALATE.value:
        return {}, (coming,), channel
    values: dict[str, Any] = {"escalation_level": step}
    if ticket.status == Status.OPEN:
        wait = step_wait(policy, step, sla, ticket)
        values["ack_due_at"] = None if wait is None else now + wait
        if policy.remind_every is not None:
            values["nudge_at"] = first_nudge(policy, now)
    workers = [c for c in people if c["audience"] == Audience.PERSON.value]
    return values, (*workers, coming), policy.steps[step].channel_spec


def _next(ticket: Ticket, hierarchy: Hierarchy, policy: Policy, at: int) -> tuple[int, list[Card], str]:
    """The next step with anyone to tell after `at` (escalate), else `at` itself again (remind)."""
    found = first_step_with_people(hierarchy, ticket, policy, at + 1)
    if found is None:
        return at, step_cards(hierarchy, ticket, policy, at), "remind"
    return found, step_cards(hierarchy, ticket, policy, found), SystemAction.ESCALATE.value


def _data(policy: Policy, step: int, people: Sequence[Card], reason: str) -> dict[str, Any]:
    return {
        "reason": reason,
        "level": step,
        "notified": ids(people),
        "policy": policy.name,
        "channel": policy.steps[min(step, len(policy.steps) - 1)].channel_spec,
    }


def _told(
    hierarchy: Hierarchy, ticket: Ticket, policy: Policy, was: int, step: int, people: Sequence[Card]
) -> tuple[Card, ...]:
    """The cards of a change that moves the ticket from step `was` to `step`: the new step's people, and, when
    they are the first workers told, the family members told before (and not now), who hear that someone is
    coming."""
    if step == was:
        return tuple(people)
    before = [c for s in range(was + 1) for c in step_cards(hierarchy, ticket, policy, s)]
    if any(c["audience"] == Audience.PERSON.value for c in before):
        return tuple(people)
    now_told = {(c["audience"], c["id"]) for c in people}
    family = [
        {**c, "notice": SOMEONE_COMING}
        for c in before
        if c["audience"] == Audience.FAMILY.value and (c["audience"], c["id"]) not in now_told
    ]
    unique = list({c["id"]: c for c in family}.values())
    if not any(c["audience"] == Audience.PERSON.value for c in people):
        unique = []
    return (*people, *unique)


class EscalationWork(Protocol):
    """What the escalation loop runs each cycle. `alerts.service.TicketService` implements it; the service
    imports this module for `plan_escalation`, so the loop names a protocol and imports point one way."""

    async def due_escalations(self, now: float | None = None) -> list[Ticket]: ...

    async def release_held(self) -> list[Ticket]: ...

    async def confirm_stale_waits(self) -> list[Ticket]: ...

    async def escalate_due(self) -> list[Ticket]: ...

    async def hand_over(self) -> int: ...


class Escalator:
    """Runs `service.escalate_due()` every `interval` seconds of the clock until `stop()` or cancellation."""

    def __init__(
        self, service: EscalationWork, clock: Clock, interval: float = 30.0, *, policies: PolicyHolder | None = None
    ) -> None:
        self.service = service
        self.policies = policies  # reloaded at the start of each cycle when its file changed
        self.clock = clock
        self.interval = interval
        self.cycles = 0
        self.last_cycle_at: float | None = None  # clock time of the last completed cycle
        self._stop = asyncio.Event()

    def healthy(self, now: float | None = None) -> bool:
        """Watchdog for /readyz: False once no cycle has completed for three intervals (a stalled loop is
        the failure users of other incident tools report most)."""
        if self.last_cycle_at is None:
            return self.cycles == 0 and not self._stop.is_set()
        t = self.clock.now() if now is None else now
        return t - self.last_cycle_at <= 3 * self.interval

    async def stop(self) -> None:
        """Ask `run()` to return after the current cycle."""
        self._stop.set()

    async def due_escalations(self, now: float) -> list[Ticket]:
        return await self.service.due_escalations(now)

    async def run_once(self) -> list[Ticket]:
        if self.policies is not None:
            try:  # a bad file is logged by the holder and kept out; the running policies stay
                self.policies.maybe_reload()
            except Exception:
                log.exception("reloading the escalation policies failed; the running policies stay")
        try:  # what ended maintenance windows held, still wrong: tickets now (a failure must not stop escalating)
            await self.service.release_held()
        except Exception:
            log.exception("releasing raises held by ended silences failed; next cycle tries again")
        try:  # an alarm left verifying by a rule that is gone: confirmed (the safe side)
            await self.service.confirm_stale_waits()
        except Exception:
            log.exception("confirming stale verification waits failed; next cycle tries again")
        try:  # whoever came on duty hears of the open tickets (a failure must not stop escalating)
            await self.service.hand_over()
        except Exception:
            log.exception("the handover at shift change failed; the next cycle tries again")
        escalated = await self.service.escalate_due()
        self.cycles += 1
        self.last_cycle_at = self.clock.now()
        return escalated

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep escalating after a transient database failure (the watchdog users ask for)
                log.exception("escalation cycle failed")
            await sleep_or_stop(self.clock, self.interval, self._stop)
