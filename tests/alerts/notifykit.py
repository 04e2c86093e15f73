"""A ticket service wired for notices, as `cwatch.app` wires it, around a real SMTP server (`cwatch.mailbox`):
the tiny registry with contact points, Apprise e-mail through the mailbox, one-tap links and the timeline."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.actionlinks import ActionLinks
from alerts.channels import Sender, build_senders
from alerts.delivery import NoticeChannel, TimelineOutcomes
from alerts.linkactions import LinkActions
from alerts.notices import NOTICE_CHANNEL, OutboxNotices
from alerts.notify import Backoff, OutboxDispatcher
from alerts.policies import PolicySet
from alerts.service import TicketService
from core import i18n
from core.clock import ManualClock
from cwatch.mailbox import Mailbox
from devices.model import ChannelKind, ContactPoint
from devices.registry import Registry
from rules.alert import Alert, AlertAction, Severity
from tests.devices.factory import T0, tiny

TZ = ZoneInfo("Asia/Shanghai")
BASE_URL = "http://cwatch.test"


def registry() -> Registry:
    """The tiny street; p-w1 (on duty in m1 from T0) by e-mail, p-l1 by e-mail, household h1's son by e-mail."""
    reg = tiny()
    h1 = reg.households["h1"]
    return reg.with_changes(
        households=[dataclasses.replace(h1, care=dataclasses.replace(h1.care, consent=True))],
        contacts=[
            ContactPoint(ChannelKind.EMAIL, "w1@example.org", person_id="p-w1"),
            ContactPoint(ChannelKind.EMAIL, "l1@example.org", person_id="p-l1"),
            ContactPoint(ChannelKind.EMAIL, "son@example.org", household_id="h1", name="王伟", consent=True),
        ],
    )


def smtp_url(port: int) -> str:
    return f"mailto://127.0.0.1:{port}?from=cwatch@example.org&to={{address}}&mode=insecure"


def alert(key: str = "smoke_alarm:d1", severity: Severity = Severity.MAJOR, household: str | None = "h1") -> Alert:
    return Alert(
        action=AlertAction.RAISE,
        rule_id=key.split(":")[0],
        dedup_key=key,
        severity=severity,
        ts=T0.timestamp() + 60,
        microgrid_id="m1",
        title="烟感报警 Smoke alarm",
        device_id=None,
        household_id=household,
        building_id="b1",
        community_id="c1",
    )


@dataclass
class Kit:
    engine: AsyncEngine
    clock: ManualClock
    reg: Registry
    mailbox: Mailbox
    service: TicketService
    links: ActionLinks
    actions: LinkActions
    channel: NoticeChannel
    dispatcher: OutboxDispatcher

    async def deliver_all(self, rounds: int = 10) -> None:
        """Run the dispatcher until nothing is due (at most `rounds`)."""
        for _ in range(rounds):
            if await self.dispatcher.run_once() == 0:
                return


@asynccontextmanager
async def notify_kit(
    engine: AsyncEngine,
    *,
    senders: Mapping[str, Sender] | Callable[[int], Mapping[str, Sender]] | None = None,
    reg: Registry | None = None,
    policies: PolicySet | None = None,
) -> AsyncIterator[Kit]:
    clock = ManualClock(T0.timestamp() + 120)
    reg = reg or registry()
    mailbox = Mailbox()
    port = await mailbox.start()
    try:
        chosen_policies = (lambda: policies) if policies is not None else None
        service = TicketService(engine, lambda: reg, clock, notices=OutboxNotices(), policies=chosen_policies)
        links = ActionLinks(engine)
        if callable(senders):  # given the SMTP server's port
            senders = senders(port)
        chosen = senders or build_senders({"email": smtp_url(port)}, webhook_url="", webhook_secret="", clock=clock)
        channel = NoticeChannel(engine, lambda: reg, chosen, links, clock, base_url=BASE_URL, tz=TZ)
        dispatcher = OutboxDispatcher(
            engine,
            {NOTICE_CHANNEL: channel},
            clock,
            outcomes=TimelineOutcomes(TZ),
            backoff=Backoff(base=5, factor=2, cap=60, jitter=0, max_attempts=50),
        )
        yield Kit(engine, clock, reg, mailbox, service, links, LinkActions(service, links), channel, dispatcher)
    finally:
        await mailbox.stop()


def link_in(text: str, action: str) -> str:
    """The URL of `action`'s one-tap link in a message's text (its label in either language)."""
    labels = {i18n.render(f"board.onetap.action.{action}", lang) for lang in i18n.LANGS}
    [line] = [x for x in text.splitlines() if "/act.html#" in x and x.rsplit(" ", 1)[0][:-1] in labels]
    return line.rsplit(" ", 1)[1]


def lead_of(text: str) -> str:
    """What a message says first, in English whatever its language ("New ticket for you.")."""
    first = text.splitlines()[0]
    for key, texts in i18n.catalog().items():
        if key.startswith("notices.lead.") and any(t in first for t in texts.values()):
            return texts[i18n.EN] + "."
    raise AssertionError(f"no lead in {first!r}")


def token_of(url: str) -> tuple[int, str]:
    """(ticket id, token) of a one-tap link `<base>/act.html#<ticket>.<token>`."""
    ticket, _, token = url.partition("#")[2].partition(".")
    return int(ticket), token
