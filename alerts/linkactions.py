"""What a one-tap link does: the same ticket changes people make on the board, by the person (or family member)
the link was sent to, with the channel it came by in the audit event.

- accept: acknowledge (接单) as the person; the ticket becomes theirs.
- on_my_way: start, with a note; the ticket becomes theirs.
- resolve: resolve with the note the page asks for.
- all_well (family): the family's answer: the ticket is resolved with an audit event naming the family member,
  and, for an absence alert, the answer reaches the rule engine as a person's "visited" does
  (`cwatch.answers`, which hears every resolve not made by the system).
- send_someone (family): recorded on the ticket; the worker it is with is told at once, and a ticket still
  asking only the family (family first) moves on to its policy's next step; the family member hears that someone
  is coming (`alerts.escalation.plan_send_someone`).

Order of checks: the link (unknown, other ticket, used, expired), then whether its action still applies to the
ticket as it is now (`actionlinks.refusal`, checked again on the read the change is decided on); only then is
the token spent, once, even when the same link is tapped twice at the same moment."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from alerts.actionlinks import FAMILY_ACTIONS, PERSON_ACTIONS, ActionLinks, Link, refusal
from alerts.errors import AlertsError, LinkRefusedError, NotFoundError, StoreError, ValidationError
from alerts.lifecycle import Action, Status
from alerts.messages import coded, place, recipient_lang
from alerts.model import Account, Ticket
from alerts.notices import Audience
from alerts.service import TicketService
from alerts.store import Change
from core.i18n import ZH, tr
from devices.model import Person

#: The audit event of a family's request for a visit (no status change).
SEND_SOMEONE = "send_someone"


@dataclass(frozen=True, slots=True)
class LinkView:
    """What the phone page shows before the tap."""

    ticket: Ticket
    action: str
    recipient_name: str
    where: str
    lang: str  # the recipient's language, for a page this browser has not chosen one for


class LinkActions:
    def __init__(
        self,
        service: TicketService,
        links: ActionLinks,
        accounts_of: Callable[[str], Any] | None = None,
        lang: str = ZH,
    ) -> None:
        self.service = service
        self.links = links
        #: person id -> the username of the account linked to them (None: no account); async
        self.accounts_of = accounts_of
        self.lang = lang  # the language of a recipient who has none of their own

    async def view(self, ticket_id: int, token: str) -> LinkView:
        """The ticket and the action of a live link; `LinkRefusedError` says why it cannot act."""
        link, ticket = await self._live(ticket_id, token)
        reg = self.service.registry()
        family = link.recipient.audience is Audience.FAMILY
        lang = recipient_lang(reg, link.recipient.id, family=family, default=self.lang)
        return LinkView(ticket, link.action, link.recipient.name, place(reg, ticket), lang)

    async def act(self, ticket_id: int, token: str, note: str | None = None) -> Ticket:
        """Carry out the link's action once; returns the ticket as it is after."""
        link, _ = await self._live(ticket_id, token)
        if link.action == "resolve" and not (note and note.strip()):
            raise ValidationError(tr("errors.link_needs_note"))
        now = self.service.clock.now()
        if not await self.links.spend(token, now):
            raise LinkRefusedError("used", tr("errors.link_used"))
        try:
            if link.recipient.audience is Audience.PERSON:
                return await self._person_acts(link, note)
            return await self._family_acts(link, note)
        except LinkRefusedError:
            raise
        except StoreError:
            await self.links.give_back(token, now)  # nothing happened: the link may be tapped again
            raise

    async def _live(self, ticket_id: int, token: str) -> tuple[Link, Ticket]:
        link = await self.links.find(token, ticket_id, self.service.clock.now())
        ticket = await self.service.store.get(ticket_id)
        if ticket is None:
            raise LinkRefusedError("unknown", tr("errors.link_unknown"))
        if refusal(link, ticket) is not None:
            raise LinkRefusedError("moved_on", moved_on_message(ticket))
        return link, ticket

    def _via(self, link: Link) -> dict[str, Any]:
        return {
            "via": "link",
            "channel": link.channel,
            "audience": link.recipient.audience.value,
            "recipient": link.recipient.id,
            "name": link.recipient.name,
            "link_action": link.action,
        }

    def _check(self, link: Link) -> Callable[[Ticket], None]:
        def check(t: Ticket) -> None:
            if refusal(link, t) is not None:
                raise LinkRefusedError("moved_on", moved_on_message(t))

        return check

    async def _person_acts(self, link: Link, note: str | None) -> Ticket:
        if link.action not in PERSON_ACTIONS:
            raise LinkRefusedError("not_allowed", tr("errors.link_not_allowed"))
        person = _person(self.service.registry(), link.recipient.id)
        if person is None:
            raise LinkRefusedError("not_allowed", tr("errors.link_recipient_gone"))
        username = await self.accounts_of(person.id) if self.accounts_of is not None else None
        actor = Account(0, username or person.id, person.role, person.scope_id, person.name, person.id)
        said, code = coded(
            "notices.by_link",
            name=person.name,
            channel=link.channel,
            action=tr(f"board.onetap.action.{link.action}"),
        )
        action = {"accept": Action.ACK, "on_my_way": Action.START, "resolve": Action.RESOLVE}[link.action]
        own = note.strip() if action is Action.RESOLVE and note else None
        via = self._via(link) if own is not None else {**self._via(link), **code}
        text = own if own is not None else said
        try:
            return await self.service.act(link.ticket_id, actor, action, text, via=via, check=self._check(link))
        except NotFoundError as e:  # the person's scope no longer covers the ticket
            raise LinkRefusedError("not_allowed", tr("errors.link_out_of_area")) from e
        except AlertsError as e:
            if isinstance(e, StoreError | ValidationError):
                raise
            raise LinkRefusedError("moved_on", e.message) from e

    async def _family_acts(self, link: Link, note: str | None) -> Ticket:
        if link.action not in FAMILY_ACTIONS:
            raise LinkRefusedError("not_allowed", tr("errors.link_not_allowed"))
        now = self.service.clock.now()
        actor = f"family:{link.recipient.name}"[:64]
        check = self._check(link)
        extra = note.strip() if note and note.strip() else None

        def decide(t: Ticket) -> Change:
            check(t)
            data = self._via(link)
            if link.action == "all_well":
                said, code = coded("notices.family_all_well", f" {extra}" if extra else "", name=link.recipient.name)
                data.update(code)
                values = {
                    "status": Status.RESOLVED,
                    "resolved_at": now,
                    "resolved_by": actor,
                    "ack_due_at": None,
                    "resolve_due_at": None,
                }
                return Change(Action.RESOLVE.value, actor, values, note=said, data=data)
            said, code = coded("notices.family_send_someone", f" {extra}" if extra else "", name=link.recipient.name)
            data.update(code)
            asker = {"id": link.recipient.id, "name": link.recipient.name}
            values, told, channel = self.service.send_someone(t, now, asker)
            data.update(channel=channel, notified=[c["id"] for c in told])
            if "escalation_level" in values:
                data["level"] = values["escalation_level"]
            return Change(SEND_SOMEONE, actor, values, note=said, data=data, recipients=told)

        result = await self.service.store.update(link.ticket_id, now, decide)
        if result is None:  # pragma: no cover - decide always returns a change
            raise LinkRefusedError("unknown", tr("errors.link_unknown"))
        await self.service._notify(*result)
        return result[0]


def moved_on_message(ticket: Ticket) -> str:
    return tr("errors.link_moved_on", status=tr(f"names.status.{ticket.status.value}"))


def _person(hierarchy: object, person_id: str) -> Person | None:
    people = getattr(hierarchy, "people", None)
    p = people.get(person_id) if isinstance(people, Mapping) else None
    return p if isinstance(p, Person) else None
