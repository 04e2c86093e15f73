"""The thin end-to-end slice on real parts: a camera publishes a thrown-object event over MQTT to a real
Mosquitto; the whole service (ingest → rules → tickets → API) turns it into a ticket owned by the camera's
micro-grid, which its grid worker finds through the HTTP API and a worker of another micro-grid cannot see."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from alerts.notify import sign
from cwatch.app import Parts, Service
from cwatch.settings import Settings, load_settings
from devices.csvio import save_registry
from devices.model import DeviceClass, Role
from devices.registry import Registry
from devices.sample import sample_street
from devices.topics import topic_for
from testkit.services import MosquittoProcess

PASSWORD = "correct horse battery"
METRICS_TOKEN = "metrics-token-for-the-e2e-test"
WEBHOOK_SECRET = "e2e-webhook-secret-0123456789"


class WebhookReceiver:
    """A tiny HTTP server on a free port that keeps what it is POSTed, for the notification check."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")[1:]
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.received.append((headers, body))
        self.arrived.set()
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@dataclass
class Running:
    parts: Parts
    service: Service
    base_url: str
    webhook: WebhookReceiver


def settings_for(tmp_path: Path, registry_dir: Path, broker: MosquittoProcess, webhook_port: int) -> Settings:
    cfg = tmp_path / "cwatch.toml"
    cfg.write_text(
        f"""
data_dir = "{tmp_path / "data"}"
[http]
port = 0
metrics_token = "{METRICS_TOKEN}"
[mqtt]
url = "mqtt://127.0.0.1:{broker.port}"
client_id = "cwatch-e2e"
[registry]
path = "{registry_dir}"
[rules]
sweep_every_s = 1
[notify]
webhook_url = "http://127.0.0.1:{webhook_port}/hook"
allow_private_targets = true  # the test receiver listens on this host
webhook_secret = "{WEBHOOK_SECRET}"
""",
        encoding="utf-8",
    )
    return load_settings(cfg, environ={})


@pytest.fixture
async def running(tmp_path: Path, mosquitto: MosquittoProcess) -> AsyncIterator[Running]:
    registry_dir = tmp_path / "registry"
    save_registry(sample_street(7), registry_dir)
    webhook = WebhookReceiver()
    await webhook.start()
    service = Service(settings_for(tmp_path, registry_dir, mosquitto, webhook.port))
    task = asyncio.create_task(service.run())
    started = asyncio.create_task(service.started.wait())
    done, _ = await asyncio.wait({task, started}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # start-up failed: show why
    assert started in done, "service did not start within 60 s"
    assert service.parts is not None
    try:
        # `started` means the HTTP server is up; the ingester connects on its own. A message published before its
        # SUBSCRIBE reaches the broker is dropped (a new session has no subscription), so wait for the connection
        # (the SUBSCRIBE goes out in the same step that marks the transport connected).
        transport = service.parts.ingester.transport
        deadline = asyncio.get_running_loop().time() + 60
        while not transport.connected:
            assert asyncio.get_running_loop().time() < deadline, "the ingester did not connect within 60 s"
            await asyncio.sleep(0.02)
        yield Running(service.parts, service, f"http://127.0.0.1:{service.parts.http_port}", webhook)
    finally:
        service.stop()
        await asyncio.wait({task}, timeout=30)
        if not task.done():
            task.cancel()
        await webhook.stop()


def publish(port: int, topic: str, payload: dict[str, Any]) -> None:
    """Publish one QoS 1 message over MQTT 5 and wait for the broker's PUBACK."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="camera-e2e", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        props = Properties(PacketTypes.PUBLISH)
        info = client.publish(topic, json.dumps(payload).encode(), qos=1, properties=props)
        info.wait_for_publish(timeout=10)
        assert info.is_published(), "broker did not acknowledge the message"
    finally:
        client.disconnect()
        client.loop_stop()


async def login(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    r = await client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def camera_and_other_microgrid(reg: Registry) -> tuple[str, str, str, str]:
    cam = next(d for d in reg.devices.values() if d.device_class is DeviceClass.AI_CAMERA)
    placement = reg.placement(cam.id)
    assert placement is not None
    other = next(m for m in reg.microgrids if m != placement.microgrid_id)
    return cam.id, placement.community_id, placement.microgrid_id, other


async def wait_for_tickets(
    client: httpx.AsyncClient, headers: dict[str, str], *, within: float = 30
) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        r = await client.get("/api/v1/tickets", headers=headers)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        if items or asyncio.get_running_loop().time() > deadline:
            return items
        await asyncio.sleep(0.1)


async def test_thrown_object_becomes_a_ticket_of_the_right_microgrid(running: Running) -> None:
    parts = running.parts
    reg = parts.registry()
    cam_id, community_id, microgrid_id, other_mg = camera_and_other_microgrid(reg)
    accounts = parts.accounts
    worker = reg.people_at(microgrid_id, Role.GRID_WORKER)[0]
    await accounts.create_account("worker", PASSWORD, Role.GRID_WORKER, microgrid_id, worker.name, person_id=worker.id)
    await accounts.create_account("stranger", PASSWORD, Role.GRID_WORKER, other_mg, "别的网格员")

    now = parts.ingester.clock.now()
    topic = topic_for(community_id, cam_id, "event")
    # A low-confidence detection (a bird) first, then the real one: only the real one may become a ticket.
    base = {"event": "thrown_object", "state": "pulse", "estimated_floor": 12}
    await asyncio.to_thread(publish, parts.mqtt_port, topic, {**base, "ts": now - 5, "seq": 1, "confidence": 0.3})
    await asyncio.to_thread(publish, parts.mqtt_port, topic, {**base, "ts": now - 1, "seq": 2, "confidence": 0.93})

    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as client:
        mine = await login(client, "worker")
        tickets = await wait_for_tickets(client, mine)
        assert len(tickets) == 1, tickets
        t = tickets[0]
        assert t["rule_id"] == "thrown_object"
        assert t["microgrid_id"] == microgrid_id
        assert t["device_id"] == cam_id
        assert t["assignee_id"] is not None

        detail = await client.get(f"/api/v1/tickets/{t['id']}", headers=mine)
        assert detail.status_code == 200
        body = detail.json()
        assert body["details"].get("confidence") == pytest.approx(0.93)
        assert body["timeline"], "a new ticket has an audit trail from its first moment"

        theirs = await login(client, "stranger")
        r = await client.get("/api/v1/tickets", headers=theirs)
        assert r.status_code == 200
        assert r.json()["items"] == []
        assert (await client.get(f"/api/v1/tickets/{t['id']}", headers=theirs)).status_code == 404

        # "Away confirmed" for a household of the worker's micro-grid goes to the rule engine; outside the
        # worker's scope the household does not exist for them; a date without an offset is refused.
        hid = next(h.id for h in reg.households_under(microgrid_id))
        until = datetime.fromtimestamp(time.time() + 5 * 86_400, UTC)
        away = {"until": until.isoformat(), "reason": "探亲 visiting family"}
        assert (await client.post(f"/api/v1/households/{hid}/away", json=away, headers=mine)).status_code == 202
        assert (await client.post(f"/api/v1/households/{hid}/away", json=away, headers=theirs)).status_code == 404
        naive = {"until": until.replace(tzinfo=None).isoformat(), "reason": "x"}
        naive = await client.post(f"/api/v1/households/{hid}/away", json=naive, headers=mine)
        assert naive.status_code == 422
        assert "until" in naive.text

        # The service reports itself ready and counts what it stored; its metrics need the token.
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"ready": True}
        assert (await client.get("/metrics")).status_code == 401
        metrics = (await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})).text
        assert "cwatch_ingest_received" in metrics
        assert 'cwatch_ready{check="store"} 1.0' in metrics

    # The ticket was also pushed to the configured webhook, signed with the shared secret.
    await asyncio.wait_for(running.webhook.arrived.wait(), 30)
    headers, body = running.webhook.received[0]
    assert json.loads(body)["ticket"]["id"] == t["id"]
    signature = headers["x-cwatch-signature"]
    assert signature == sign(WEBHOOK_SECRET, headers["x-cwatch-timestamp"], body)
