"""Each IM provider's request, as Apprise sends it from a notice, checked against the provider's documented
format by an HTTP receiver standing in for the provider (WeCom group robot, DingTalk robot, Feishu robot, ntfy);
and a provider down for a while: every message is delivered once it is back, and no link acts twice."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from apprise.plugins.dingtalk import NotifyDingTalk
from apprise.plugins.feishu import NotifyFeishu
from apprise.plugins.wecombot import NotifyWeComBot
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.channels import build_senders
from alerts.errors import LinkRefusedError
from alerts.lifecycle import Status
from devices.model import ChannelKind, ContactPoint

from .notifykit import alert, link_in, notify_kit, registry, token_of

pytestmark = pytest.mark.timeout(120)


@dataclass
class Receiver:
    """Records each request; answers like the provider, or 503 while `down`."""

    port: int = 0
    got: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if rec.down:
                self.send_response(503)
                self.end_headers()
                return
            u = urlsplit(self.path)
            rec.got.append({"path": u.path, "query": parse_qs(u.query), "headers": dict(self.headers), "body": body})
            answer = {"code": 0, "msg": "success"} if "open-apis" in u.path else {"errcode": 0, "errmsg": "ok"}
            out = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def providers_here(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """The providers' fixed endpoints pointed at the receiver (ntfy takes its host from the URL)."""
    base = f"http://127.0.0.1:{receiver.port}"
    monkeypatch.setattr(NotifyWeComBot, "notify_url", base + "/cgi-bin/webhook/send?key={key}")
    monkeypatch.setattr(NotifyDingTalk, "notify_url", base + "/robot/send?access_token={token}")
    monkeypatch.setattr(NotifyFeishu, "notify_url", base + "/open-apis/bot/v2/hook/{token}/")


def contacts(kind: ChannelKind, address: str) -> Any:
    return registry().with_changes(contacts=[ContactPoint(kind, address, person_id="p-w1")])


CASES = [
    (ChannelKind.WECOM, "wecombot://{address}", "0123456789abcdef0123"),
    (ChannelKind.DINGTALK, "dingtalk://{address}", "a" * 64),
    (ChannelKind.FEISHU, "feishu://{address}", "9e1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"),
    (ChannelKind.NTFY, "ntfy://127.0.0.1:{port}/{address}", "cwatch-m1"),
]


@pytest.mark.usefixtures("providers_here")
@pytest.mark.parametrize(("kind", "template", "address"), CASES, ids=[c[0].value for c in CASES])
async def test_each_provider_gets_its_documented_request(
    engine: AsyncEngine, receiver: Receiver, kind: ChannelKind, template: str, address: str
) -> None:
    url = template.replace("{port}", str(receiver.port))
    senders = build_senders({kind.value: url}, webhook_url="", webhook_secret="", clock=_Clock())
    async with notify_kit(engine, senders=senders, reg=contacts(kind, address)) as kit:
        [t] = await kit.service.apply([alert()])
        await kit.deliver_all()
        [req] = receiver.got
        body = req["body"].decode()
        if kind is ChannelKind.WECOM:  # POST /cgi-bin/webhook/send?key=KEY {"msgtype":"text","text":{"content"}}
            assert req["path"] == "/cgi-bin/webhook/send"
            assert req["query"]["key"] == [address]
            payload = json.loads(body)
            assert payload["msgtype"] == "text"
            text = payload["text"]["content"]
        elif kind is ChannelKind.DINGTALK:  # POST /robot/send?access_token=T {"msgtype":"text","text":{"content"}}
            assert req["path"] == "/robot/send"
            assert req["query"]["access_token"] == [address]
            payload = json.loads(body)
            assert payload["msgtype"] in ("text", "markdown")
            text = payload[payload["msgtype"]].get("content") or payload[payload["msgtype"]]["text"]
        elif kind is ChannelKind.FEISHU:  # POST /open-apis/bot/v2/hook/T {"msg_type":"text","content":{"text"}}
            assert req["path"].rstrip("/") == f"/open-apis/bot/v2/hook/{address}"
            payload = json.loads(body)
            assert payload["msg_type"] == "text"
            text = payload["content"]["text"]
        else:  # ntfy: POST to the topic (or JSON with "topic" to the root), the title apart from the message
            payload = json.loads(body) if body.startswith("{") else {"topic": req["path"].strip("/"), "message": body}
            assert payload.get("topic", req["path"].strip("/")) == address
            text = payload["message"]
        assert "application/json" in req["headers"].get("Content-Type", "application/json")
        assert f"#{t.id}" in text or f"#{t.id}" in json.dumps(payload, ensure_ascii=False)
        assert link_in(text, "accept").startswith("http://cwatch.test/act.html#")
        [sent] = [e for e in await kit.service.store.timeline(t.id) if e.action == "notified"]
        assert sent.data["channel"] == kind.value


class _Clock:
    def now(self) -> float:
        return 1.0

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


@pytest.mark.usefixtures("providers_here")
async def test_a_provider_down_for_a_while_delivers_everything_once_back(
    engine: AsyncEngine, receiver: Receiver
) -> None:
    senders = build_senders({"wecom": "wecombot://{address}"}, webhook_url="", webhook_secret="", clock=_Clock())
    async with notify_kit(engine, senders=senders, reg=contacts(ChannelKind.WECOM, "0123456789abcdef0123")) as kit:
        receiver.down = True
        tickets = [t for i in range(3) for t in await kit.service.apply([alert(f"smoke_alarm:d{i}", household=None)])]
        for _ in range(4):  # an outage of several retry rounds
            await kit.deliver_all()
            kit.clock.advance(61)
        assert receiver.got == []
        assert (await kit.dispatcher.stats())["pending"] == 3
        failed = [e for t in tickets for e in await kit.service.store.timeline(t.id) if e.action == "notify_failed"]
        assert failed
        assert "503" in failed[0].data["error"] or "error" in failed[0].data["error"].lower()
        receiver.down = False
        kit.clock.advance(61)
        await kit.deliver_all()
        assert len(receiver.got) == 3
        assert await kit.dispatcher.stats() == {"pending": 0, "delivered": 3, "failed": 0}
        links = []
        for req in receiver.got:
            text = json.loads(req["body"])["text"]["content"]
            links.append(token_of(link_in(text, "accept")))
        assert sorted(t for t, _ in links) == sorted(t.id for t in tickets)
        for ticket_id, token in links:
            assert (await kit.actions.act(ticket_id, token)).status is Status.ACKNOWLEDGED
            with pytest.raises(LinkRefusedError):
                await kit.actions.act(ticket_id, token)
