"""The whole bad-input corpus published through a real Mosquitto into the real Ingester: every message is
dead-lettered with the decoder's reason, the ingester keeps running, and good messages around them are stored
(in the SQLite telemetry sink)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from core.clock import ManualClock
from core.db import make_engine
from ingest.deadletter import DeadLetters, create_tables
from ingest.decode import Decoder
from ingest.metrics import IngestMetrics
from ingest.refusals import RefusalReason
from ingest.service import Ingester
from ingest.sinks import SqliteTelemetrySink
from ingest.spool import Spool
from ingest.transport import GmqttTransport, MqttOptions
from testkit.services import MosquittoProcess

from .corpus.cases import CASES
from .corpus.registry import NOW, registry


def _subscribed(topic: str) -> bool:
    """Whether the ingester's subscription `cw/+/+/+` receives `topic` at all."""
    parts = topic.split("/")
    return len(parts) == 4 and parts[0] == "cw" and all(parts)


# The broker never delivers topics outside the subscription, and hands retained messages to live subscribers
# unflagged; everything else of the corpus must come out of the service as a dead letter with its reason.
SENDABLE = [c for c in CASES if _subscribed(c.topic) and c.reason is not RefusalReason.RETAINED]


def publish(port: int, messages: list[tuple[str, bytes]]) -> None:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{time.monotonic_ns()}")
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        for info in [c.publish(t, p, qos=1) for t, p in messages]:
            info.wait_for_publish(timeout=30)
    finally:
        c.disconnect()
        c.loop_stop()


async def until(predicate: object, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not await predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        await asyncio.sleep(0.02)


def good(seq: int) -> tuple[str, bytes]:
    return "cw/c1/SD-0001/telemetry", json.dumps({"ts": NOW - seq, "seq": seq, "smoke_obscuration_pct": 0.1}).encode()


async def test_corpus_through_the_service(mosquitto: MosquittoProcess, tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await create_tables(engine)
    deadletters = DeadLetters(engine)
    sink = SqliteTelemetrySink(tmp_path / "telemetry.db", retention_s=30 * 86_400, clock=clock)
    transport = GmqttTransport(MqttOptions(port=mosquitto.port, client_id=f"ingest-{tmp_path.name}"), now=clock.now)
    ingester = Ingester(
        transport=transport,
        decoder=Decoder(registry(), clock),
        spool=Spool(tmp_path / "spool.db", consumers=("telemetry",)),
        sink=sink,
        deadletters=deadletters,
        metrics=IngestMetrics(),
        clock=clock,
    )
    try:
        async with ingester:

            async def connected() -> bool:
                return transport.connected

            await until(connected)
            messages = [good(1)] + [(c.topic, c.payload) for c in SENDABLE] + [good(2)]
            await asyncio.to_thread(publish, mosquitto.port, messages)

            async def all_dead_lettered() -> bool:
                return sum((await deadletters.counts()).values()) == len(SENDABLE)

            await until(all_dead_lettered)
            assert await deadletters.counts() == dict(Counter(c.reason.value for c in SENDABLE))
            await asyncio.to_thread(publish, mosquitto.port, [good(3)])  # still running after all that

            async def stored() -> bool:
                return await sink.count() == 3

            await until(stored)
            rows = await deadletters.list(limit=1000)
            by_topic_payload = {(r.topic, r.payload): r for r in rows}
            for case in SENDABLE:
                row = by_topic_payload[(case.topic, case.payload[: deadletters.max_payload_bytes])]
                assert row.reason is case.reason
                assert case.detail_has in row.detail
    finally:
        ingester.spool.close()
        await sink.close()
        await engine.dispose()
