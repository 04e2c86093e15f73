"""The text of a notice: a title and a plain-text body in the recipient's language (texts from the catalog,
`core/messages/notices.toml`), with its one-tap links. Pure.

Plain text on purpose: every channel (SMS, WeCom, DingTalk, Feishu, ntfy, e-mail) shows it, phones turn the URLs
into links, and nothing in it depends on a client rendering HTML."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerts.model import Ticket
from alerts.notices import TEMPLATES
from core import i18n
from core.i18n import EN, LANGS, ZH, Text


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str


def render(
    template: str,
    ticket: Ticket,
    *,
    where: str,
    recipient_name: str,
    links: Sequence[tuple[str, str]],
    tz: ZoneInfo,
    link_ttl_s: float,
    lang: str,
) -> Message:
    """The message of `template` about `ticket` for `recipient_name`, in `lang` alone (an SMS in one language
    stays within fewer segments); `links` are (action, URL) pairs."""

    def say(key: str, **params: object) -> str:
        return i18n.render(key, lang, params)

    lead = say(f"notices.lead.{template if template in TEMPLATES else 'other'}")
    title = ticket.title_in(lang)
    severity = say(f"names.severity.{ticket.severity.value}")
    when = datetime.fromtimestamp(ticket.first_seen, tz).strftime("%Y-%m-%d %H:%M")
    lines = [
        say("notices.greeting", name=recipient_name, lead=lead)
        if recipient_name
        else say("notices.lead_alone", lead=lead),
        "",
        say("notices.ticket", id=ticket.id, title=title),
        say("notices.where", where=where) if where else None,
        say("notices.when", when=when),
        say("notices.status", status=say(f"board.onetap.state.{ticket.status.value}")),
    ]
    if links:
        lines.append("")
        for action, url in links:
            lines.append(say("notices.link", action=say(f"board.onetap.action.{action}"), url=url))
        lines += ["", say("notices.links_once", hours=max(1, round(link_ttl_s / 3600)))]
    elif ticket.status.active is False:
        lines += ["", say("notices.finished")]
    body = "\n".join(line for line in lines if line is not None)
    return Message(say("notices.title", severity=severity, title=title, id=ticket.id), body)


def both(key: str, **params: object) -> str:
    """A timeline note everyone reads whatever their language: Chinese, then English in brackets."""
    return f"{i18n.render(key, ZH, params)} ({i18n.render(key, EN, params)})"


def coded(key: str, rest: str = "", **params: object) -> tuple[str, dict[str, Any]]:
    """A timeline note the system writes: its text in both languages (`both`, then `rest` as it is: a reason or
    a person's words), and its code for the event's data (`note_key`, with `note_values` and `note_rest` when
    there are any), from which the board says it in its reader's language alone. A value that is a catalog
    text travels as its key."""
    data: dict[str, Any] = {"note_key": key}
    if params:
        data["note_values"] = {k: {"key": v.key} if isinstance(v, Text) else str(v) for k, v in params.items()}
    if rest:
        data["note_rest"] = rest
    return both(key, **params) + rest, data


def recipient_lang(hierarchy: object, recipient_id: str, *, family: bool, default: str) -> str:
    """The language a notice's recipient reads: a person's own (`people.csv` `lang`), a family member's (the
    `lang` of the first of their contact points that has one), else the deployment's `default`."""
    chosen: str | None = None
    if family:
        contacts_of = getattr(hierarchy, "contacts_of", None)
        points = contacts_of(recipient_id) if callable(contacts_of) else ()
        chosen = next((k.lang for k in points if getattr(k, "lang", None)), None)
    else:
        people = getattr(hierarchy, "people", None)
        person = people.get(recipient_id) if isinstance(people, Mapping) else None
        chosen = getattr(person, "lang", None)
    return chosen if chosen in LANGS else default


def place(hierarchy: object, ticket: Ticket) -> str:
    """Where the ticket is, as people say it: building and door number, else the micro-grid."""

    def name(collection: str, item_id: str | None, attr: str) -> str:
        items = getattr(hierarchy, collection, None)
        if item_id is None or not isinstance(items, Mapping):
            return ""
        value = getattr(items.get(item_id), attr, "")
        return value if isinstance(value, str) else ""

    parts = [
        name("buildings", ticket.building_id, "name") or name("microgrids", ticket.microgrid_id, "name"),
        name("households", ticket.household_id, "unit"),
        name("devices", ticket.device_id, "label"),
    ]
    return " ".join(p for p in parts if p)
