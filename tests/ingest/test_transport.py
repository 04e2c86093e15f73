"""The gmqtt transport against a real Mosquitto: PUBACKs in arrival order and only after the handler's future
completes, redelivery after a failed handler, resubscription when the broker lost the session, reconnect
backoff, and the MQTT 3.1.1 fallback for the embedded amqtt broker."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Sized
from contextlib import asynccontextmanager
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ingest import transport as transport_module
from ingest.backoff import backoff_delay
from ingest.committer import OrderedCommitter
from ingest.transport import GmqttTransport, InboundMessage, MqttOptions, _Client, _puback, options_from_url
from testkit.services import MosquittoProcess, free_port, retained_message


async def until(predicate: Callable[[], bool], deadline_s: float = 20.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        await asyncio.sleep(0.01)


class Pub:
    """A paho publisher in its own thread that counts PUBACKs."""

    def __init__(self, port: int, protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311) -> None:
        self.acks = 0
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{time.monotonic_ns()}", protocol=protocol)
        self.c.max_inflight_messages_set(1000)
        self.c.on_publish = self._on_publish
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def _on_publish(self, *_a: Any) -> None:
        self.acks += 1

    def send(self, n: int, prefix: str = "m") -> None:
        for i in range(n):
            self.c.publish(f"cw/c1/d{i % 7}/telemetry", f"{prefix}{i}".encode(), qos=1)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


async def until_one_arrives(pub: Pub, seen: Sized, prefix: str = "m") -> None:
    """Publish one message at a time until one arrives: the SUBSCRIBE may still be on its way."""
    for _ in range(500):
        await asyncio.to_thread(pub.send, 1, prefix)
        try:
            await until(lambda: len(seen) > 0, deadline_s=0.2)
            return
        except AssertionError:
            continue


async def subscribed(pub: Pub, seen: list[InboundMessage]) -> None:
    """Publish probes until one arrives, then forget them."""
    await until_one_arrives(pub, seen, "probe")
    await until(lambda: pub.acks >= 1)
    seen.clear()


def real(seen: list[InboundMessage]) -> list[InboundMessage]:
    return [m for m in seen if not m.payload.startswith(b"probe")]  # a late probe may still come in


@asynccontextmanager
async def running(
    transport: GmqttTransport, handler: Callable[[InboundMessage], asyncio.Future[None]]
) -> AsyncIterator[None]:
    task = asyncio.create_task(transport.run(handler))
    try:
        await until(lambda: transport.connected)
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(30.0, 0.5 * 2**attempt)
        draws = [backoff_delay(attempt, initial=0.5, cap=30.0, rng=rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws)
        assert max(draws) > 0.8 * ceiling  # jitter spreads over the whole range
    with pytest.raises(ValueError, match="attempt"):
        backoff_delay(-1)


def test_options_from_url() -> None:
    o = options_from_url("mqtt://ingest:s%3Acret@broker.example:1884", client_id="x")
    assert (o.host, o.port, o.username, o.password, o.client_id) == ("broker.example", 1884, "ingest", "s:cret", "x")
    assert MqttOptions(shared_group="g").filters()[0] == "$share/g/cw/+/+/+"
    assert MqttOptions(shared_group="g").filters()[4] == "$share/g/cw/+/+/+/+/#"


async def test_pubacks_follow_arrival_order_across_batches(
    mosquitto: MosquittoProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[int] = []
    acked: list[int] = []
    original_receive = _Client._receive

    def receive(self: _Client, mid: int, *args: Any) -> None:
        received.append(mid)
        original_receive(self, mid, *args)

    def puback(mid: int) -> bytes:
        acked.append(mid)
        return _puback(mid)

    monkeypatch.setattr(_Client, "_receive", receive)
    monkeypatch.setattr(transport_module, "_puback", puback)

    rng = random.Random(3)

    async def slow_commit(batch: object) -> None:
        for _ in range(rng.randrange(5)):
            await asyncio.sleep(0)

    committer: OrderedCommitter[InboundMessage] = OrderedCommitter(slow_commit, max_batch=97)
    transport = GmqttTransport(MqttOptions(port=mosquitto.port, client_id="order-test"))
    runner = asyncio.create_task(committer.run())
    async with running(transport, committer.enqueue):
        pub = Pub(mosquitto.port)
        try:
            await asyncio.to_thread(pub.send, 3000)
            await until(lambda: pub.acks == 3000)
            # the broker acknowledges the publisher on receipt; our PUBACKs follow each batch's commit
            await until(lambda: len(acked) >= 3000)
        finally:
            pub.close()
    runner.cancel()
    assert len(received) == 3000
    assert acked == received
    assert committer.batches > 3000 // 97


async def test_no_puback_until_stored_and_redelivery_after_reconnect(mosquitto: MosquittoProcess) -> None:
    """Failed futures are never acknowledged; the broker sends those messages again on the next connection."""
    seen: list[InboundMessage] = []
    fail = True

    def handler(msg: InboundMessage) -> asyncio.Future[None]:
        seen.append(msg)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if fail:
            fut.set_exception(RuntimeError("spool broken"))
        else:
            fut.set_result(None)
        return fut

    transport = GmqttTransport(MqttOptions(port=mosquitto.port, client_id="redeliver-test", backoff_initial_s=0.05))
    async with running(transport, handler):
        pub = Pub(mosquitto.port)
        try:
            await asyncio.to_thread(pub.send, 20)
            await until(lambda: len(seen) == 20)
            await until(lambda: pub.acks == 20)  # the broker took them; the ingester has not acknowledged any
            fail = False
            await asyncio.to_thread(mosquitto.restart)
            await until(lambda: transport.connections == 2)
            await until(lambda: len(seen) == 40)
        finally:
            pub.close()
    again = seen[20:]
    assert sorted(m.payload for m in again) == sorted(m.payload for m in seen[:20])
    assert all(m.dup for m in again)


async def test_resubscribes_when_the_broker_forgot_the_session(mosquitto: MosquittoProcess) -> None:
    seen: list[bytes] = []

    def handler(msg: InboundMessage) -> asyncio.Future[None]:
        seen.append(msg.payload)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    # session expiry 0: the broker drops the session (and its subscription) when the connection ends
    options = MqttOptions(port=mosquitto.port, client_id="resub-test", session_expiry_s=0, backoff_initial_s=0.05)
    transport = GmqttTransport(options)
    async with running(transport, handler):
        await asyncio.to_thread(mosquitto.restart)
        await until(lambda: transport.connections == 2 and transport.connected)
        pub = Pub(mosquitto.port)
        try:
            await until_one_arrives(pub, seen)
        finally:
            pub.close()
    assert seen


async def test_reconnect_backs_off_until_the_broker_is_back(mosquitto: MosquittoProcess) -> None:
    delays: list[float] = []
    mosquitto.stop()

    async def recording_sleep(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0.01)

    options = MqttOptions(port=mosquitto.port, client_id="backoff-test", backoff_initial_s=1.0, backoff_max_s=4.0)
    transport = GmqttTransport(options, sleep=recording_sleep, rng=random.Random(1))

    def handler(msg: InboundMessage) -> asyncio.Future[None]:
        raise AssertionError("no messages expected")

    task = asyncio.create_task(transport.run(handler))
    try:
        await until(lambda: len(delays) >= 6)
        assert not transport.connected
        await asyncio.to_thread(mosquitto.start)
        await until(lambda: transport.connected)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    for i, d in enumerate(delays[:6]):
        assert 0 <= d <= min(4.0, 2.0**i)


async def test_falls_back_to_mqtt_311_for_the_embedded_broker() -> None:
    from cwatch.broker import EmbeddedBroker

    port = free_port()
    seen: list[InboundMessage] = []

    def handler(msg: InboundMessage) -> asyncio.Future[None]:
        seen.append(msg)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    async with EmbeddedBroker("127.0.0.1", port):
        transport = GmqttTransport(
            MqttOptions(port=port, client_id="fallback-test", backoff_initial_s=0.05, connect_timeout_s=0.5)
        )
        async with running(transport, handler):
            pub = Pub(port)
            try:
                await until_one_arrives(pub, seen)
            finally:
                pub.close()
    assert seen
    assert seen[0].topic.startswith("cw/c1/")


async def test_publish_with_properties_goes_through_gmqtts_parser(
    mosquitto: MosquittoProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast PUBLISH path leaves packets with MQTT 5 properties to gmqtt; both paths deliver the same."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    seen: list[InboundMessage] = []
    slow_path: list[int] = []
    original = _Client._on_qos1

    def on_qos1(self: _Client, mid: int, *args: Any) -> None:
        slow_path.append(mid)
        original(self, mid, *args)

    monkeypatch.setattr(_Client, "_on_qos1", on_qos1)

    def handler(msg: InboundMessage) -> asyncio.Future[None]:
        seen.append(msg)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    transport = GmqttTransport(MqttOptions(port=mosquitto.port, client_id="props-test"))
    async with running(transport, handler):
        pub = Pub(mosquitto.port, protocol=MQTTProtocolVersion.MQTTv5)
        try:
            await subscribed(pub, seen)
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.UserProperty = [("k", "v")]
            infos = [
                pub.c.publish("cw/c1/d1/telemetry", b"plain", qos=1),
                pub.c.publish("cw/c1/d1/telemetry", b"with-props", qos=1, properties=props),
            ]

            def wait_acks() -> None:
                for info in infos:
                    info.wait_for_publish(10)

            await asyncio.to_thread(wait_acks)
            await until(lambda: len(real(seen)) == 2)
        finally:
            pub.close()
    assert [(m.topic, m.payload, m.retain) for m in real(seen)] == [
        ("cw/c1/d1/telemetry", b"plain", False),
        ("cw/c1/d1/telemetry", b"with-props", False),
    ]
    assert len(slow_path) == 1


def done(msg: InboundMessage, seen: list[InboundMessage]) -> asyncio.Future[None]:
    """A handler's body: record the message and store it at once."""
    seen.append(msg)
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    fut.set_result(None)
    return fut


async def until_cleared(port: int, topic: str, deadline_s: float = 20.0) -> None:
    deadline = time.monotonic() + deadline_s
    while await asyncio.to_thread(retained_message, port, topic) is not None:
        if time.monotonic() > deadline:
            raise AssertionError(f"the broker still holds a retained message on {topic}")


async def test_a_retained_message_arrives_flagged_and_is_cleared_from_the_broker(mosquitto: MosquittoProcess) -> None:
    """Retain-as-published: a live retained message keeps its flag (a broker clears it otherwise, and the decoder
    could not refuse it). Once handled, the transport deletes it from the broker; the deletion's own echo (an
    empty retained message) is not handed on."""
    seen: list[InboundMessage] = []
    transport = GmqttTransport(MqttOptions(port=mosquitto.port, client_id="retain-test"))
    async with running(transport, lambda m: done(m, seen)):
        pub = Pub(mosquitto.port, protocol=MQTTProtocolVersion.MQTTv5)
        try:
            await subscribed(pub, seen)
            pub.c.publish("cw/c1/d1/telemetry", b"stale snapshot", qos=1, retain=True).wait_for_publish(10)
            await until(lambda: any(m.payload == b"stale snapshot" for m in seen))
            assert [m.retain for m in seen if m.payload == b"stale snapshot"] == [True]
            await until_cleared(mosquitto.port, "cw/c1/d1/telemetry")
            await asyncio.to_thread(pub.send, 1, "after")  # behind the deletion's echo on the same connection
            await until(lambda: any(m.payload.startswith(b"after") for m in seen))
        finally:
            pub.close()
    assert not [m for m in seen if not m.payload]


async def test_a_retained_message_stays_on_the_broker_when_its_handling_failed(mosquitto: MosquittoProcess) -> None:
    seen: list[InboundMessage] = []

    def failing(msg: InboundMessage) -> asyncio.Future[None]:
        seen.append(msg)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_exception(RuntimeError("dead letters unreachable"))
        return fut

    transport = GmqttTransport(MqttOptions(port=mosquitto.port, client_id="retain-fail-test"))
    async with running(transport, failing):
        pub = Pub(mosquitto.port, protocol=MQTTProtocolVersion.MQTTv5)
        try:
            pub.c.publish("cw/c1/d2/telemetry", b"kept", qos=1, retain=True).wait_for_publish(10)
            await until(lambda: any(m.payload == b"kept" for m in seen))
        finally:
            pub.close()
    assert await asyncio.to_thread(retained_message, mosquitto.port, "cw/c1/d2/telemetry") == b"kept"


async def test_an_empty_retained_message_is_acknowledged_in_order_and_not_handed_on(
    mosquitto: MosquittoProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[int] = []
    acked: list[int] = []
    original_receive = _Client._receive

    def receive(self: _Client, mid: int, *args: Any) -> None:
        received.append(mid)
        original_receive(self, mid, *args)

    def puback(mid: int) -> bytes:
        acked.append(mid)
        return _puback(mid)

    monkeypatch.setattr(_Client, "_receive", receive)
    monkeypatch.setattr(transport_module, "_puback", puback)
    handed: list[InboundMessage] = []

    async def commit(batch: list[InboundMessage]) -> None:
        handed.extend(batch)
        await asyncio.sleep(0)

    committer: OrderedCommitter[InboundMessage] = OrderedCommitter(commit, max_batch=7)
    transport = GmqttTransport(MqttOptions(port=mosquitto.port, client_id="empty-retained-test"))
    runner = asyncio.create_task(committer.run())
    async with running(transport, committer.enqueue):
        pub = Pub(mosquitto.port)
        try:
            await asyncio.to_thread(pub.send, 20, "before")
            pub.c.publish("cw/c1/d3/telemetry", b"", qos=1, retain=True).wait_for_publish(10)
            await asyncio.to_thread(pub.send, 20, "after")
            await until(lambda: len(acked) >= 41)
        finally:
            pub.close()
    runner.cancel()
    assert len(received) == 41
    assert acked == received
    assert len(handed) == 40
    assert all(m.payload for m in handed)


async def test_topics_of_the_wrong_depth_under_the_prefix_arrive_once(mosquitto: MosquittoProcess) -> None:
    """So that the decoder can refuse them (bad_topic) instead of their vanishing at the broker; the filters do
    not overlap, so a protocol topic still arrives once."""
    seen: list[InboundMessage] = []
    topics = ["cw", "cw/c1", "cw/c1/d1", "cw/c1/d1/telemetry", "cw/c1/d1/telemetry/x", "cw/c1/d1/telemetry/x/y/z"]
    transport = GmqttTransport(MqttOptions(port=mosquitto.port, client_id="depth-test"))
    async with running(transport, lambda m: done(m, seen)):
        pub = Pub(mosquitto.port)
        try:
            await subscribed(pub, seen)
            for topic in [*topics, "other/c1/d1/telemetry"]:
                pub.c.publish(topic, b"depth", qos=1).wait_for_publish(10)
            await asyncio.to_thread(pub.send, 1, "last")
            await until(lambda: any(m.payload.startswith(b"last") for m in seen))
        finally:
            pub.close()
    assert sorted(m.topic for m in seen if m.payload == b"depth") == sorted(topics)
