"""`TicketService`: turns alerts into tickets and carries out what people do to them.

Decisions (assignment, deadlines, transitions, scope) are pure and live in `lifecycle`, `dispatch`, `sla`,
`scope` and `escalation`; this module only sequences them around the store and the notifier.

Clears: a clear always marks the active ticket `cleared` and records it. It also resolves the ticket
(`auto_resolve`, actor `system`) when nobody has taken the ticket yet (status `open`) and the severity is not
critical: a door that closed again or a meter that came back online needs no visit, while a smoke, gas or
duress alarm that stopped must still be checked by a person. Tickets a person acknowledged stay with that
person; the board shows them as cleared. The policy is a parameter (`clear_policy`).

Also here: silences (maintenance windows), flap control, ignoring replayed raises, bulk actions and resident
evaluations; docs/tickets.md explains each."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, tzinfo
from functools import partial
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.away import HouseholdAways, UseSeen
from alerts.dispatch import answers_for, choose_assignee, person_card
from alerts.errors import AlertsError, AssignError, InvalidAssigneeError, NotFoundError, RatingError
from alerts.escalation import first_nudge, plan_escalation, plan_send_someone, step_wait
from alerts.feedback import LINK_TTL_S, RESIDENT, FeedbackLink, FeedbackLinks
from alerts.handover import hand_over
from alerts.lifecycle import Action, Status, next_status
from alerts.model import Account, Ticket, TicketDetail, TicketEvent, TicketPage
from alerts.notices import NoticeSink
from alerts.policies import Policy, PolicySet, default_policies
from alerts.policy_notices import PolicyNotices
from alerts.scope import Hierarchy, in_scope, sees_all, visible_microgrids
from alerts.silences import SilenceStore, first_match
from alerts.sla import SlaPolicy
from alerts.store import CONFIRMED_BY, Change, NewTicket, NoticePlan, TicketStore
from alerts.targets import Opening, opening_step
from core.clock import Clock
from core.i18n import tr
from rules.alert import AWAY_ENDED, Alert, AlertAction, Severity

log = logging.getLogger(__name__)

OPENING = frozenset({AlertAction.RAISE, AlertAction.PENDING})  # alerts that may create or update a ticket
ENDING = frozenset({AlertAction.CLEAR, AlertAction.CANCEL})  # alerts that end a condition
BATCH = 200  # alerts per transaction in `apply`


class Notifier(Protocol):
    """Told about every committed ticket change (the board stream, in-process fan-out)."""

    async def ticket_changed(self, ticket: Ticket, event: TicketEvent) -> None: ...


class NullNotifier:
    async def ticket_changed(self, ticket: Ticket, event: TicketEvent) -> None:
        return None


def default_clear_policy(ticket: Ticket) -> bool:
    """Auto-resolve on clear only untouched, non-critical tickets (see the module docstring)."""
    return ticket.status == Status.OPEN and ticket.severity != Severity.CRITICAL


class TicketService:
    def __init__(
        self,
        engine: AsyncEngine,
        registry: Callable[[], Hierarchy],
        clock: Clock,
        notifier: Notifier | None = None,
        *,
        sla: SlaPolicy | None = None,
        clear_policy: Callable[[Ticket], bool] = default_clear_policy,
        channels: Sequence[str] = (),
        flap_window_s: float = 600.0,
        verify_grace_s: float = 600.0,
        notices: NoticeSink | None = None,
        notice_plan: NoticePlan | None = None,
        policies: Callable[[], PolicySet] | None = None,
        resolve_guard: Callable[[Ticket], Awaitable[None]] | None = None,
        tz: tzinfo = UTC,
    ) -> None:
        self.engine = engine
        #: the escalation policies in force (`alerts.policies`; default: the packaged ones)
        self.policies: Callable[[], PolicySet] = policies or default_policies
        plan = notice_plan if notice_plan is not None else PolicyNotices(self.policies, registry)
        self.store = TicketStore(engine, channels, notices, plan)
        self.registry = registry
        self.clock = clock
        self.notifier: Notifier = notifier or NullNotifier()
        self.sla = sla or SlaPolicy()
        self.clear_policy = clear_policy
        self.flap_window_s = flap_window_s
        self.verify_grace_s = verify_grace_s
        self.silences = SilenceStore(engine, tz)  # `tz`: the street's, for recurring silences' local times
        self.aways = HouseholdAways(engine)  # ended by the rule engine's `AWAY_ENDED` signals
        #: refuses a resolve by raising (a ticket that needs a photo has none: `alerts.photos`); None: no check
        self.resolve_guard = resolve_guard
        self._applying = asyncio.Lock()  # one `apply` or `release_held` at a time in this process

    # --- alerts in ----------------------------------------------------------------------------------------

    async def apply(self, alerts: Sequence[Alert]) -> list[Ticket]:
        """Apply raises and clears in order; returns the tickets they changed (latest state, in order).
        Up to `BATCH` alerts share one transaction (see `TicketStore.apply_batch`)."""
        async with self._applying:
            return await self._apply(alerts, released=False)

    async def _apply(self, alerts: Sequence[Alert], *, released: bool) -> list[Ticket]:
        changed: list[Ticket] = []
        if any(a.details.get("signal") == AWAY_ENDED for a in alerts):
            await self._aways_ended(alerts)
            alerts = [a for a in alerts if a.details.get("signal") != AWAY_ENDED]
        for start in range(0, len(alerts), BATCH):
            now = self.clock.now()
            hierarchy = self.registry()
            chunk = await self._unsilenced(alerts[start : start + BATCH], now, hierarchy)
            items = [
                (a, self._new_ticket(a, now, hierarchy, now if released else a.ts) if a.action in OPENING else None)
                for a in chunk
            ]
            cards = partial(person_card, hierarchy)  # who hears of a confirmation or a severity rise
            changed_batches = await self.store.apply_batch(items, now, self.flap_window_s, self.clear_policy, cards)
            for changes in changed_batches:
                for ticket, event in changes:
                    await self._notify(ticket, event)
                changed.extend(t for t, _ in changes[-1:])
        return changed

    async def _aways_ended(self, alerts: Sequence[Alert]) -> None:
        """Water use ended an away in the rules (`rules.alert.AWAY_ENDED`): end its record, and record the end
        of the registry's away when it was that one, which the board shows (audited as ended by water use).
        News, not a condition: no ticket is filed for it."""
        now = self.clock.now()
        for a in alerts:
            if a.details.get("signal") != AWAY_ENDED or a.household_id is None:
                continue
            used_at, read_at = a.details.get("used_at"), a.details.get("read_at")
            use = UseSeen(
                float(used_at if used_at is not None else a.ts),
                a.device_id,
                float(read_at) if read_at is not None else None,
            )
            await self.aways.ended_by_use(a.household_id, use, now)
            registry_until = a.details.get("registry_until")
            if registry_until is not None:
                await self.aways.registry_ended_by_use(a.household_id, float(registry_until), use, now)

    async def _unsilenced(self, alerts: Sequence[Alert], now: float, hierarchy: Hierarchy) -> list[Alert]:
        """Drop raises covered by an active silence (counted on the silence), unless the ticket they would
        update (their condition's, or their group's) is already active: someone is working on it and should
        see them. Dropped raises of lasting conditions are held until the silence ends; a clear lets go of its
        key (a condition that ended while silenced). The start of a verification wait it covers is dropped
        unheld and uncounted: the raise that would confirm it meets the silence in turn."""
        active = await self.silences.active(now)
        kept: list[Alert] = []
        counts: dict[int, int] = {}
        held: dict[str, tuple[int, Alert]] = {}
        cleared: list[str] = []
        for a in alerts:
            if a.action in ENDING:
                if a.action is AlertAction.CLEAR:
                    held.pop(a.dedup_key, None)
                    cleared.append(a.dedup_key)
                kept.append(a)
                continue
            s = first_match(active, a, hierarchy) if active else None
            if s is None or await self.store.active_for_alert(a) is not None:
                kept.append(a)
                continue
            if a.action is AlertAction.PENDING:
                continue
            counts[s.id] = counts.get(s.id, 0) + 1
            if a.lasting:
                held.setdefault(a.dedup_key, (s.id, a))
        await self.silences.let_go(cleared)
        await self.silences.hold(list(held.values()), now)
        await self.silences.count_suppressed(counts)
        return kept

    async def release_held(self) -> list[Ticket]:
        """Raise what silences held and that is still wrong now that they have ended (see `SilenceStore.hold`);
        returns the tickets opened. Run by the escalation loop, and at once when a silence is cancelled."""
        # under the same lock as `apply`: a clear applied meanwhile would otherwise let go of a held raise that
        # is then raised anyway, and its ticket would never clear (the engine sends a clear once)
        async with self._applying:
            ready = await self.silences.held_after_end(self.clock.now())
            if not ready:
                return []
            # a silence still active re-holds its raises; the worker on duty now gets the ticket, not the one on
            # duty when the condition began (maybe the night shift)
            changed = await self._apply([a for _, a in ready], released=True)
            await self.silences.forget_held([i for i, _ in ready])
            return changed

    async def confirm_stale_waits(self) -> list[Ticket]:
        """Confirm alarms whose verification wait ended `verify_grace_s` ago (event time against the clock)
        with neither its raise nor its cancel: their rule was removed or disabled by a reload meanwhile, and a
        smoke alarm must not stay verifying, unannounced, for good. Run by the escalation loop."""
        stale = await self.store.stale_waits(self.clock.now() - self.verify_grace_s)
        raises = [
            Alert(
                AlertAction.RAISE,
                m.rule_id,
                m.dedup_key,
                m.severity,
                m.verify_until if m.verify_until is not None else m.last_seen,
                t.microgrid_id,
                m.title,
                t.device_id,
                t.household_id,
                t.building_id,
                t.community_id,
                {**m.details, CONFIRMED_BY: "timeout"},
                group=None if t.dedup_key == m.dedup_key else t.dedup_key,
            )
            for t, m in stale
        ]
        return await self.apply(raises) if raises else []

    def _new_ticket(self, alert: Alert, now: float, hierarchy: Hierarchy, assign_at: float) -> NewTicket:
        """What a raise writes if it creates (or revives) a ticket: the assignee (by the roster at `assign_at`)
        and the SLA deadlines."""
        assignment = choose_assignee(hierarchy, alert.microgrid_id, assign_at)
        policy = self.policies().for_alert(alert)
        opening = Opening(assignment.person_id, alert.microgrid_id, alert.household_id)
        step = opening_step(hierarchy, opening, policy)
        wait = policy.steps[step].wait
        return NewTicket(
            assignee_id=assignment.person_id,
            ack_due_at=now + wait if wait is not None else self.sla.ack_due(alert.severity, now, alert.rule_id),
            resolve_due_at=self.sla.resolve_due(alert.severity, now, alert.rule_id),
            data={"assignee": assignment.person_id, "assigned_because": assignment.reason, "policy": policy.name},
            recipients=person_card(hierarchy, assignment.person_id),
            nudge_at=first_nudge(policy, now),
        )

    def policy_for(self, ticket: Ticket) -> Policy:
        return self.policies().for_ticket(ticket)

    def send_someone(
        self, ticket: Ticket, now: float, asker: Mapping[str, str]
    ) -> tuple[dict[str, Any], tuple[dict[str, str], ...], str]:
        """What a family's "please send someone" does under the ticket's policy (`plan_send_someone`)."""
        return plan_send_someone(ticket, now, self.sla, self.registry(), self.policy_for(ticket), dict(asker))

    def _ack_due(self, ticket: Ticket, now: float) -> float | None:
        """A reopened or reassigned ticket's acknowledge deadline: its policy's first step's wait."""
        wait = step_wait(self.policy_for(ticket), 0, self.sla, ticket)
        return None if wait is None else now + wait

    async def notify(self, ticket: Ticket, event: TicketEvent) -> None:
        """Tell the notifier of a change committed outside `act` (a photo attached: `alerts.photos`)."""
        await self._notify(ticket, event)

    async def _notify(self, ticket: Ticket, event: TicketEvent) -> None:
        try:
            await self.notifier.ticket_changed(ticket, event)
        except Exception:  # a broken subscriber must never undo or block a committed change
            log.exception("notifier failed for ticket %s", ticket.id)

    # --- people's actions ---------------------------------------------------------------------------------

    async def act(
        self,
        ticket_id: int,
        actor: Account,
        action: Action,
        note: str | None = None,
        assignee_id: str | None = None,
        rating: int | None = None,
        via: Mapping[str, Any] | None = None,
        check: Callable[[Ticket], None] | None = None,
    ) -> Ticket:
        """Carry out `action` by `actor`. Out-of-scope tickets raise `NotFoundError`, like missing ones.
        `assignee_id` is for `assign`, `rating` (1-5) for `evaluate`. `via` is added to the audit event's data
        (how the action came: a one-tap link and its channel); `check` may refuse the current ticket by raising
        (a link whose ticket moved on), decided on the same read as the change."""
        now = self.clock.now()
        hierarchy = self.registry()
        if action is Action.RESOLVE and self.resolve_guard is not None:
            await self._guard_resolve(ticket_id, actor, note, hierarchy)

        def decide(t: Ticket) -> Change:
            if not in_scope(actor, t.microgrid_id, hierarchy):
                raise NotFoundError(tr("errors.ticket_not_found", id=ticket_id))
            if check is not None:
                check(t)
            to = next_status(t.status, action, actor.role, note)
            values: dict[str, Any] = {}
            data: dict[str, Any] = {"role": actor.role.value, **(via or {})}
            if actor.person_id:
                data["person"] = actor.person_id  # who, in the registry (the all-clear leaves them out)
            recipients: tuple[dict[str, str], ...] = ()
            if to != t.status:
                values["status"] = to
            if action in (Action.ACK, Action.START):
                if t.acknowledged_at is None:
                    values["acknowledged_at"] = now
                values["ack_due_at"] = None
                timeout = self.policy_for(t).ack_timeout
                # accepted: no more reminders; the policy's acknowledge timeout runs until someone starts
                values["nudge_at"] = now + timeout if to == Status.ACKNOWLEDGED and timeout is not None else None
                if t.overdue_reason == "ack":  # the missed acknowledgement is made; a missed resolve is not
                    values.update(overdue_since=None, overdue_reason=None)
                if actor.person_id and actor.person_id != t.assignee_id:
                    values["assignee_id"] = actor.person_id  # accepting (接单) makes it yours
                    data["assignee"] = {"from": t.assignee_id, "to": actor.person_id}
            elif action == Action.RESOLVE:
                values.update(resolved_at=now, resolved_by=actor.username, ack_due_at=None, resolve_due_at=None)
            elif action == Action.REOPEN:
                values.update(
                    resolved_at=None,
                    resolved_by=None,
                    acknowledged_at=None,
                    overdue_since=None,
                    overdue_reason=None,
                    ack_due_at=self._ack_due(t, now),
                    resolve_due_at=self.sla.resolve_due(t.severity, now, t.rule_id),
                    nudge_at=first_nudge(self.policy_for(t), now),
                )
            elif action == Action.ASSIGN:
                if not assignee_id:
                    raise AssignError(tr("errors.assignee_required"))
                if not answers_for(hierarchy, assignee_id, t.microgrid_id):
                    raise InvalidAssigneeError(
                        tr("errors.assignee_outside", person=assignee_id, microgrid=t.microgrid_id)
                    )
                values.update(
                    assignee_id=assignee_id,
                    acknowledged_at=None,
                    ack_due_at=self._ack_due(t, now),
                    nudge_at=first_nudge(self.policy_for(t), now),
                )
                data["assignee"] = {"from": t.assignee_id, "to": assignee_id}
                recipients = person_card(hierarchy, assignee_id)
            elif action == Action.EVALUATE:
                if rating is None or not 1 <= rating <= 5:
                    raise RatingError(tr("errors.rating_required"))
                values.update(rating=rating, rated_at=now)
                data["rating"] = rating
            return Change(
                action.value,
                actor.username,
                values,
                note=note.strip() if note else None,
                data=data,
                recipients=recipients,
            )

        result = await self.store.update(ticket_id, now, decide)
        if result is None:  # pragma: no cover - decide always returns a change
            raise NotFoundError(tr("errors.ticket_not_found", id=ticket_id))
        ticket, event = result
        await self._notify(ticket, event)
        return ticket

    async def _guard_resolve(self, ticket_id: int, actor: Account, note: str | None, hierarchy: Hierarchy) -> None:
        """Run `resolve_guard` on a ticket the actor sees and may resolve now (otherwise `decide` gives the real
        reason: not found, not allowed, a note missing)."""
        assert self.resolve_guard is not None
        current = await self.store.get(ticket_id)
        if current is None or not in_scope(actor, current.microgrid_id, hierarchy):
            return
        try:
            next_status(current.status, Action.RESOLVE, actor.role, note)
        except AlertsError:
            return
        await self.resolve_guard(current)

    async def act_many(
        self, ticket_ids: Sequence[int], actor: Account, action: Action, note: str | None = None
    ) -> list[Ticket | AlertsError]:
        """The same action on many tickets (acknowledge an alert storm at once). Each ticket succeeds or fails
        on its own; the result holds the ticket or the error, in the order of `ticket_ids`."""
        out: list[Ticket | AlertsError] = []
        for ticket_id in dict.fromkeys(ticket_ids):
            try:
                out.append(await self.act(ticket_id, actor, action, note))
            except AlertsError as e:
                out.append(e)
        return out

    async def acknowledge(self, ticket_id: int, actor: Account, note: str | None = None) -> Ticket:
        return await self.act(ticket_id, actor, Action.ACK, note)

    async def start(self, ticket_id: int, actor: Account, note: str | None = None) -> Ticket:
        return await self.act(ticket_id, actor, Action.START, note)

    async def resolve(self, ticket_id: int, actor: Account, note: str | None = None) -> Ticket:
        return await self.act(ticket_id, actor, Action.RESOLVE, note)

    async def close(self, ticket_id: int, actor: Account, note: str | None = None) -> Ticket:
        return await self.act(ticket_id, actor, Action.CLOSE, note)

    async def reopen(self, ticket_id: int, actor: Account, note: str | None = None) -> Ticket:
        return await self.act(ticket_id, actor, Action.REOPEN, note)

    async def comment(self, ticket_id: int, actor: Account, note: str | None = None) -> Ticket:
        return await self.act(ticket_id, actor, Action.COMMENT, note)

    async def assign(self, ticket_id: int, actor: Account, assignee_id: str, note: str | None = None) -> Ticket:
        return await self.act(ticket_id, actor, Action.ASSIGN, note, assignee_id=assignee_id)

    async def evaluate(self, ticket_id: int, actor: Account, rating: int, note: str | None = None) -> Ticket:
        return await self.act(ticket_id, actor, Action.EVALUATE, note, rating=rating)

    # --- resident feedback (评单 by link) -------------------------------------------------------------------

    async def feedback_link(self, ticket_id: int, actor: Account) -> FeedbackLink:
        """A one-time evaluation link for the resident of a resolved or closed ticket (leaders and above)."""
        now = self.clock.now()
        hierarchy = self.registry()
        links = FeedbackLinks(self.engine)

        def decide(t: Ticket) -> Change:
            if not in_scope(actor, t.microgrid_id, hierarchy):
                raise NotFoundError(tr("errors.ticket_not_found", id=ticket_id))
            next_status(t.status, Action.EVALUATE, actor.role, None)  # same rights and states as evaluating
            return Change("feedback_link", actor.username, {}, data={"expires_at": now + LINK_TTL_S})

        current = await self.store.get(ticket_id)
        if current is None:
            raise NotFoundError(tr("errors.ticket_not_found", id=ticket_id))
        decide(current)  # refuse before creating a token
        link = await links.create(ticket_id, actor.username, now)
        result = await self.store.update(ticket_id, now, decide)
        if result is not None:
            await self._notify(*result)
        return link

    async def feedback_view(self, token: str) -> dict[str, Any]:
        """What the resident's evaluation page shows: the title, the status and how it was resolved."""
        ticket_id = await FeedbackLinks(self.engine).ticket_of(token, self.clock.now())
        ticket = await self.store.get(ticket_id)
        if ticket is None:
            raise NotFoundError(tr("errors.link_expired_or_used"))
        notes = [e.note for e in await self.store.timeline(ticket_id) if e.action == Action.RESOLVE.value and e.note]
        return {
            "title": ticket.title,
            "titles": ticket.titles,
            "status": ticket.status.value,
            "resolved_at": ticket.resolved_at,
            "resolution": notes[-1] if notes else None,
        }

    async def submit_feedback(self, token: str, rating: int, comment: str | None = None) -> Ticket:
        """Record the resident's rating through their one-time link (actor `resident`)."""
        if not 1 <= rating <= 5:
            raise RatingError(tr("errors.rating_range"))
        now = self.clock.now()
        ticket_id = await FeedbackLinks(self.engine).use(token, now)
        note = comment.strip() if comment and comment.strip() else None

        def decide(_t: Ticket) -> Change:
            values = {"rating": rating, "rated_at": now}
            return Change(Action.EVALUATE.value, RESIDENT, values, note=note, data={"rating": rating, "via": "link"})

        result = await self.store.update(ticket_id, now, decide)
        if result is None:  # pragma: no cover - decide always returns a change
            raise NotFoundError(tr("errors.link_expired_or_used"))
        await self._notify(*result)
        return result[0]

    # --- reads --------------------------------------------------------------------------------------------

    def _scope(self, viewer: Account, microgrid: str | None) -> list[str] | Callable[[list[str]], list[str]] | None:
        """The micro-grids the viewer asks for and may see: a list, None for all, or (a scope that is not one
        micro-grid) a function that picks them among the micro-grids with tickets."""
        hierarchy = self.registry()
        if microgrid is not None:
            return [microgrid] if in_scope(viewer, microgrid, hierarchy) else []
        if sees_all(viewer):
            return None
        return lambda ids: visible_microgrids(viewer, ids, hierarchy)

    async def _scope_filter(self, viewer: Account, microgrid: str | None) -> list[str] | None:
        scope = self._scope(viewer, microgrid)
        return scope(await self.store.microgrid_ids()) if callable(scope) else scope

    async def list_tickets(
        self,
        viewer: Account,
        *,
        status: Sequence[Status] = (),
        severity: Sequence[Severity] = (),
        microgrid: str | None = None,
        mine: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> TicketPage:
        """Tickets in the viewer's scope, most severe then oldest first; `cursor` continues a page."""
        return await self.store.page(
            microgrids=self._scope(viewer, microgrid),
            statuses=status,
            severities=severity,
            assignee_id=(viewer.person_id or f"account:{viewer.id}") if mine else None,
            limit=max(1, min(limit, 500)),
            cursor=cursor,
        )

    async def rule_titles(self, viewer: Account, rule_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """Each rule's title per language as the newest ticket of it in the viewer's scope carries it."""
        return await self.store.rule_titles(rule_ids, await self._scope_filter(viewer, None))

    async def get_ticket(self, viewer: Account, ticket_id: int) -> TicketDetail:
        ticket = await self.store.get(ticket_id)
        if ticket is None or not in_scope(viewer, ticket.microgrid_id, self.registry()):
            raise NotFoundError(tr("errors.ticket_not_found", id=ticket_id))
        return TicketDetail(ticket, await self.store.timeline(ticket_id), await self.store.members(ticket_id))

    async def summary(self, viewer: Account, microgrid: str | None = None) -> dict[str, Any]:
        microgrids = await self._scope_filter(viewer, microgrid)
        return await self.store.counts(microgrids, self.clock.now())

    def can_see(self, viewer: Account, ticket: Ticket) -> bool:
        return in_scope(viewer, ticket.microgrid_id, self.registry())

    # --- escalation ---------------------------------------------------------------------------------------

    async def due_escalations(self, now: float | None = None) -> list[Ticket]:
        """Active tickets past a deadline at `now` (default: the clock). Reads only."""
        return await self.store.due(self.clock.now() if now is None else now)

    async def hand_over(self, window_s: float = 600.0) -> int:
        """Send whoever came on duty in the last `window_s` the tickets open in their micro-grid
        (`alerts.handover`); returns how many notices were queued."""
        return await hand_over(self.store, self.store.notices, self.registry(), self.clock.now(), window_s)

    async def escalate_due(self) -> list[Ticket]:
        """Escalate every ticket past its deadline by one level; returns the escalated tickets."""
        now = self.clock.now()
        hierarchy = self.registry()
        out: list[Ticket] = []
        for due in await self.store.due(now):
            result = await self.store.update(
                due.id, now, lambda t: plan_escalation(t, now, self.sla, hierarchy, self.policy_for(t))
            )
            if result is not None:
                await self._notify(*result)
                out.append(result[0])
        return out
