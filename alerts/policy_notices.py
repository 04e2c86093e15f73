"""The notices a ticket change sends under its escalation policy (`alerts.policies`). Pure over the registry
view and the policies in force; called by the ticket store inside the change's transaction (`NoticePlan`).

- A new ticket (raised, confirmed after its verification wait, reopened by flap control) tells the policy's
  first step that has anyone to tell, by the step's channel; a reassigned ticket tells its new assignee.
- An escalation or reminder (`alerts.escalation`) tells the people its change names, by the step's channel;
  family members told in an earlier step hear that someone is coming once a worker is told.
- A family's "please send someone" tells the worker it goes to at once, and the family that someone is coming.
- A related alarm that raised the severity tells the assignee and the current step of the ticket's policy (the
  worker and the family by phone once a smoke ticket becomes a critical alarm).
- On a critical ticket a family member is offered "please send someone" only: "all is well" does not close a
  smoke, gas or duress alarm.
- With the policy's `all_clear`, a ticket resolved or closed tells everyone who was told of it (`TOLD`),
  except whoever closed it.
People get the one-tap actions of a person (accept, on my way, resolved), family members those of a family
(all is well, please send someone)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from alerts.escalation import SOMEONE_COMING, current_step
from alerts.lifecycle import Action, Status, SystemAction
from alerts.model import SYSTEM_ACTOR, Ticket, TicketEvent
from alerts.notices import PREFERRED, TOLD, Audience, Notice, Recipient
from alerts.policies import PolicySet
from alerts.scope import Hierarchy
from alerts.targets import audience_of, step_cards
from rules.alert import Severity

PERSON_ACTIONS = ("accept", "on_my_way", "resolve")
FAMILY_ACTIONS = ("all_well", "send_someone")
_RISES = frozenset({SystemAction.JOIN.value, SystemAction.REPEAT.value, SystemAction.CONFIRM.value})
_ENDED = frozenset({Status.RESOLVED, Status.CLOSED})
#: The template a person and a family member get for each kind of change.
_TEMPLATES = {
    "new_ticket": ("new_ticket", "family_check"),
    "severity_raised": ("severity_raised", "family_check"),
    "escalated": ("escalated", "family_check"),
    "reminder": ("reminder", "family_check"),
}


class PolicyNotices:
    """The store's `NoticePlan` under the policies `policies()` gives, with the registry `registry()`."""

    def __init__(self, policies: Callable[[], PolicySet], registry: Callable[[], Hierarchy]) -> None:
        self.policies = policies
        self.registry = registry

    def __call__(self, ticket: Ticket, event: TicketEvent, recipients: Sequence[Mapping[str, str]]) -> list[Notice]:
        a = event.action
        key = f"event:{event.id}"
        if a == Action.ASSIGN.value:
            return _notices(ticket, "new_ticket", _cards(recipients) or _assignee(ticket), PREFERRED, key)
        if (
            a == SystemAction.RAISE.value
            or (a == Action.REOPEN.value and event.actor == SYSTEM_ACTOR)
            or (a in _RISES and event.data.get("confirmed"))  # a verifying ticket stands: its alarm, or another
        ):
            hierarchy = self.registry()
            policy = self.policies().for_ticket(ticket)
            step = current_step(ticket, policy, hierarchy)
            people = step_cards(hierarchy, ticket, policy, step)
            return _notices(ticket, "new_ticket", people, policy.steps[step].channel_spec, key, step)
        if a in _RISES and event.data.get("severity"):  # a related alarm joined, repeated or was confirmed higher
            # the assignee, and the current step of the ticket's policy, which the higher severity may have changed
            # (a smoke ticket that became a critical alarm calls its worker and family)
            hierarchy = self.registry()
            policy = self.policies().for_ticket(ticket)
            step = current_step(ticket, policy, hierarchy)
            cards: list[Mapping[str, str]] = list(_cards(recipients) or _assignee(ticket))
            told = {c["id"] for c in cards}
            cards += [c for c in step_cards(hierarchy, ticket, policy, step) if c["id"] not in told]
            return _notices(ticket, "severity_raised", cards, policy.steps[step].channel_spec, key, step)
        if a in (SystemAction.ESCALATE.value, "remind"):
            template = "escalated" if a == SystemAction.ESCALATE.value else "reminder"
            if template == "reminder" and event.data.get("reason") == "not_started":
                template = "not_started"
            channel = str(event.data.get("channel") or PREFERRED)
            step = int(event.data.get("level", 0))
            return _notices(ticket, template, _cards(recipients), channel, key, step)
        if a == "send_someone":
            channel = str(event.data.get("channel") or PREFERRED)
            return _notices(ticket, "escalated", _cards(recipients) or _assignee(ticket), channel, key)
        if ticket.status in _ENDED and event.from_status is not None and event.from_status.active:
            return self._all_clear(ticket, event, key)
        return []

    def _all_clear(self, ticket: Ticket, event: TicketEvent, key: str) -> list[Notice]:
        policy = self.policies().for_ticket(ticket)
        if not policy.all_clear:
            return []
        closer = tuple(sorted({str(event.data.get("recipient", "")), str(event.data.get("person", "")), event.actor}))
        everyone = Recipient(Audience.PERSON, TOLD, "")
        return [Notice(ticket.id, everyone, PREFERRED, "all_clear", key=key, skip=closer)]


def _notices(
    ticket: Ticket,
    template: str,
    cards: Sequence[Mapping[str, Any]],
    channel: str,
    key: str,
    step: int = 0,
) -> list[Notice]:
    out = []
    for card in cards:
        actions: tuple[str, ...]
        audience = audience_of(card)
        special = card.get("notice")
        if special == SOMEONE_COMING:
            chosen, actions, via = str(special), (), PREFERRED
        elif audience is Audience.FAMILY:
            # a family's "all is well" does not close a critical alarm (smoke, gas, duress): a worker checks it
            actions = ("send_someone",) if ticket.severity is Severity.CRITICAL else FAMILY_ACTIONS
            chosen, via = _TEMPLATES.get(template, (template, "family_check"))[1], channel
        else:
            chosen, actions, via = template, PERSON_ACTIONS, channel
        recipient = Recipient(audience, str(card["id"]), str(card.get("name", "")))
        out.append(Notice(ticket.id, recipient, via, chosen, actions, step=step, key=key))
    return out


def _cards(recipients: Sequence[Mapping[str, str]]) -> list[Mapping[str, str]]:
    return [r for r in recipients if r.get("id")]


def _assignee(ticket: Ticket) -> list[Mapping[str, str]]:
    if ticket.assignee_id and not ticket.assignee_id.startswith("account:"):
        return [{"id": ticket.assignee_id, "name": ""}]
    return []
