"""Notices for today's escalation ladder (`alerts.escalation`), until escalation policies plan them: the
assignee hears of a new, confirmed, revived or reassigned ticket, the people an escalation reaches hear of it, and the
assignee hears at once when a family asks for someone to come. Each goes by the recipient's preferred channels
and offers the one-tap actions of a person. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from alerts.lifecycle import Action, SystemAction
from alerts.model import SYSTEM_ACTOR, Ticket, TicketEvent
from alerts.notices import PREFERRED, Audience, Notice, Recipient

PERSON_ACTIONS = ("accept", "on_my_way", "resolve")
_RISES = frozenset({SystemAction.JOIN.value, SystemAction.REPEAT.value, SystemAction.CONFIRM.value})


def ladder_notices(ticket: Ticket, event: TicketEvent, recipients: Sequence[Mapping[str, str]]) -> list[Notice]:
    """The notices a ticket change sends under the ladder; `recipients` are the change's contact cards."""
    a = event.action
    if (
        a == SystemAction.RAISE.value
        or a == Action.ASSIGN.value
        or (a == Action.REOPEN.value and event.actor == SYSTEM_ACTOR)
        or (a in _RISES and event.data.get("confirmed"))  # a verifying ticket stands: its alarm, or another
    ):
        template, people = "new_ticket", _cards(recipients) or _assignee(ticket)
    elif a in _RISES and event.data.get("severity"):  # a related alarm joined, repeated or was confirmed higher
        template, people = "severity_raised", _cards(recipients) or _assignee(ticket)
    elif a == SystemAction.ESCALATE.value:
        template, people = "escalated", _cards(recipients)
    elif a == "remind":
        template, people = "reminder", _cards(recipients)
    elif a == "send_someone":
        template, people = "escalated", _assignee(ticket)
    else:
        return []
    return [
        Notice(
            ticket.id,
            Recipient(Audience.PERSON, pid, name),
            PREFERRED,
            template,
            PERSON_ACTIONS,
            key=f"event:{event.id}",
        )
        for pid, name in people
    ]


def _cards(recipients: Sequence[Mapping[str, str]]) -> list[tuple[str, str]]:
    return [(r["id"], r.get("name", "")) for r in recipients if r.get("id")]


def _assignee(ticket: Ticket) -> list[tuple[str, str]]:
    return [(ticket.assignee_id, "")] if ticket.assignee_id and not ticket.assignee_id.startswith("account:") else []
