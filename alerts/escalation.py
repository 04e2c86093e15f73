"""Escalation up the grid when SLA deadlines pass.

`plan_escalation` is pure: given a ticket and the time, it returns the change to write (new level, new
deadlines, who was alerted, since when the ticket is overdue) or None. The missed deadline moves forward for
the next level, so the ticket keeps `overdue_since` (the first missed deadline) until a person meets it:
acknowledging meets a missed acknowledge deadline, resolving meets both. Deadlines live in the ticket row, so
after a restart the `Escalator` finds overdue tickets with one query and nothing stalls. A ticket that
already reached the top level is re-announced to the top level each period (a reminder) instead of going
silent."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from alerts.dispatch import contact_card, escalation_targets, next_level_with_people
from alerts.lifecycle import Status, SystemAction
from alerts.loops import sleep_or_stop
from alerts.model import SYSTEM_ACTOR, Ticket
from alerts.scope import Hierarchy
from alerts.sla import SlaPolicy
from alerts.store import Change
from core.clock import Clock

if TYPE_CHECKING:
    from alerts.service import TicketService

log = logging.getLogger(__name__)


def overdue_reason(ticket: Ticket, now: float) -> str | None:
    """`ack` when an open ticket missed its acknowledge deadline, `resolve` for the resolve deadline."""
    if not ticket.status.active:
        return None
    if ticket.status == Status.OPEN and ticket.ack_due_at is not None and now >= ticket.ack_due_at:
        return "ack"
    if ticket.resolve_due_at is not None and now >= ticket.resolve_due_at:
        return "resolve"
    return None


def plan_escalation(ticket: Ticket, now: float, sla: SlaPolicy, hierarchy: Hierarchy) -> Change | None:
    """The escalation to write for `ticket` at `now`, or None when it is not (or no longer) overdue."""
    reason = overdue_reason(ticket, now)
    if reason is None:
        return None
    found = next_level_with_people(hierarchy, ticket.microgrid_id, ticket.escalation_level, sla.max_level)
    values: dict[str, Any] = {}
    if found is None:
        level = ticket.escalation_level
        people = escalation_targets(hierarchy, ticket.microgrid_id, level)
        action = "remind"
    else:
        level, people = found
        values["escalation_level"] = level
        action = SystemAction.ESCALATE.value
    spec = sla.sla(ticket.severity, ticket.rule_id)
    # Move the missed deadline(s) forward so the next level gets the same time to react; the ticket stays overdue
    missed: list[float] = []
    if ticket.ack_due_at is not None and now >= ticket.ack_due_at:
        missed.append(ticket.ack_due_at)
        values["ack_due_at"] = None if spec.ack_s is None else now + spec.ack_s
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
    note = {
        "ack": f"超时未确认，升级到第 {level} 级 (not acknowledged in time; escalated to level {level})",
        "resolve": f"超时未解决，升级到第 {level} 级 (not resolved in time; escalated to level {level})",
    }[reason]
    return Change(
        action,
        SYSTEM_ACTOR,
        values,
        note=note,
        data={
            "reason": reason,
            "level": level,
            "notified": [p.id for p in people],
            "overdue_since": ticket.overdue_since if ticket.overdue_since is not None else values["overdue_since"],
        },
        recipients=tuple(contact_card(p) for p in people),
    )


class Escalator:
    """Runs `service.escalate_due()` every `interval` seconds of the clock until `stop()` or cancellation."""

    def __init__(self, service: TicketService, clock: Clock, interval: float = 30.0) -> None:
        self.service = service
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
        try:  # what ended maintenance windows held, still wrong: tickets now (a failure must not stop escalating)
            await self.service.release_held()
        except Exception:
            log.exception("releasing raises held by ended silences failed; next cycle tries again")
        try:  # an alarm left verifying by a rule that is gone: confirmed (the safe side)
            await self.service.confirm_stale_waits()
        except Exception:
            log.exception("confirming stale verification waits failed; next cycle tries again")
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
