"""Critical alarms call: under the packaged policies a smoke alarm reaches the worker on duty and the household's
consented family by a voice call where a voice provider is configured (here the operator's gateway behind the
signed webhook, an HTTP receiver that checks the signature), by SMS otherwise, and by their own channels (e-mail
through a real SMTP server) when neither is configured."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.channels import Sender, WebhookSender, build_senders
from alerts.notices import Audience, Notice, Recipient
from alerts.notify import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from core.clock import ManualClock
from devices.model import ChannelKind, ContactPoint
from rules.alert import Severity

from .notifykit import Kit, alert, notify_kit, registry, smtp_url

pytestmark = pytest.mark.timeout(60)
SECRET = "a-gateway-secret-of-some-length"


@dataclass
class Gateway:
    """The operator's SMS/voice gateway: records each signed request."""

    port: int = 0
    got: list[dict[str, Any]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            signed = verify_signature(
                SECRET, self.headers[TIMESTAMP_HEADER], body, self.headers.get(SIGNATURE_HEADER, "")
            )
            gw.got.append({"signed": signed, "id": self.headers[DELIVERY_HEADER], **json.loads(body)})
            gw.arrived.set()
            self.send_response(204 if signed else 401)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    gw.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gw
    finally:
        server.shutdown()
        thread.join(5)


def phones() -> Any:
    """The kit's registry, with the worker's and the son's mobile numbers for texts."""
    reg = registry()
    return reg.with_changes(
        contacts=[
            *(k for owner in ("p-w1", "p-l1", "h1#王伟") for k in reg.contacts_of(owner)),
            ContactPoint(ChannelKind.SMS, "13800000001", person_id="p-w1", priority=2),
            ContactPoint(ChannelKind.SMS, "13800000009", household_id="h1", name="王伟", consent=True, priority=2),
        ]
    )


def senders(kinds: tuple[str, ...], gw: Gateway, smtp_port: int) -> dict[str, Sender]:
    clock = ManualClock(0.0)
    out: dict[str, Sender] = {
        kind: WebhookSender(f"http://127.0.0.1:{gw.port}/notify", SECRET, clock=clock) for kind in kinds
    }
    out.update(build_senders({"email": smtp_url(smtp_port)}, webhook_url="", webhook_secret="", clock=clock))
    return out


async def smoke(kit: Kit) -> int:
    [t] = await kit.service.apply([alert("smoke_alarm:SD-1", Severity.CRITICAL)])
    await kit.deliver_all()
    return t.id


@pytest.mark.parametrize(("configured", "expected"), [(("voice", "sms"), "voice"), (("sms",), "sms")])
async def test_a_smoke_alarm_calls_the_worker_and_the_family_by_voice_else_sms(
    engine: AsyncEngine, gateway: Gateway, configured: tuple[str, ...], expected: str
) -> None:
    async with notify_kit(engine, reg=phones(), senders=lambda port: senders(configured, gateway, port)) as kit:
        ticket_id = await smoke(kit)
        sent = sorted((g["notice"]["channel"], g["notice"]["address"]) for g in gateway.got)
        assert sent == [(expected, "13800000001"), (expected, "13800000009")]
        assert all(g["signed"] and g["ticket_id"] == ticket_id for g in gateway.got)
        [to_son] = [g["notice"]["text"] for g in gateway.got if g["notice"]["address"] == "13800000009"]
        assert "请派人上门: " in to_son
        assert "一切安好" not in to_son  # a family's word does not close a smoke alarm
        [to_worker] = [g["notice"]["text"] for g in gateway.got if g["notice"]["address"] == "13800000001"]
        assert "接单: " in to_worker
        assert list(kit.mailbox.mails) == []  # no e-mail: the phone reached them
        timeline = await kit.service.store.timeline(ticket_id)
        assert sorted(e.data["channel"] for e in timeline if e.action == "notified") == [expected, expected]


async def test_without_a_phone_provider_the_alarm_goes_by_their_own_channels(engine: AsyncEngine) -> None:
    async with notify_kit(engine, reg=phones()) as kit:  # e-mail only
        await smoke(kit)
        async with asyncio.timeout(10):
            mails = await kit.mailbox.wait_for(2)
        assert sorted(m.to[0] for m in mails) == ["son@example.org", "w1@example.org"]


async def test_a_call_reaches_a_number_given_for_texts_or_the_registry_phone(engine: AsyncEngine) -> None:
    async with notify_kit(engine, reg=phones(), senders=lambda port: senders(("voice",), Gateway(), port)) as kit:
        reg = kit.reg
        worker = Notice(1, Recipient(Audience.PERSON, "p-w1", ""), "voice,sms,preferred", "new_ticket")
        [point] = kit.channel.usable(reg, worker)
        assert (point.channel, point.address) == (ChannelKind.VOICE, "13800000001")
        duty = Notice(1, Recipient(Audience.PERSON, "p-c1", ""), "voice,sms,preferred", "new_ticket")
        [point] = kit.channel.usable(reg, duty)  # no contact point at all: the registry's phone
        assert (point.channel, point.address) == (ChannelKind.VOICE, "13700000000")
        leader = Notice(1, Recipient(Audience.PERSON, "p-l1", ""), "sms,preferred", "new_ticket")
        [point] = kit.channel.usable(reg, leader)  # no sms provider: their own e-mail
        assert point.channel is ChannelKind.EMAIL
