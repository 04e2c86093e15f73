"""The ingester in-process against a real Mosquitto: messages reach the sink and consumers, refusals reach dead
letters, a down sink fills the spool which drains when it returns, and readiness reports each part."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core.clock import SystemClock
from core.db import make_engine
from devices.reading import Reading
from devices.registry import Registry
from devices.sample import sample_street
from devices.topics import topic_for
from ingest.deadletter import DeadLetters, create_tables
from ingest.decode import Decoder
from ingest.errors import SpoolFullError
from ingest.metrics import IngestMetrics
from ingest.refusals import RefusedMessage
from ingest.service import Ingester, IngestTuning
from ingest.sinks.base import SinkUnavailable
from ingest.spool import Spool
from ingest.transport import GmqttTransport, MqttOptions
from testkit.services import MosquittoProcess, retained_message


class MemorySink:
    """A telemetry sink in memory that can be switched off (raises SinkUnavailable) and refuse readings."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.down = False
        self.refuse_device: str | None = None
        self.changed = asyncio.Event()

    async def write(self, readings: Sequence[Reading]) -> list[tuple[Reading, str]]:
        if self.down:
            raise SinkUnavailable("switched off", retry_after=0.01)
        bad = [(r, "refused by test") for r in readings if r.device_id == self.refuse_device]
        self.readings.extend(r for r in readings if r.device_id != self.refuse_device)
        self.changed.set()
        return bad

    async def ping(self) -> bool:
        return not self.down

    async def close(self) -> None:
        pass


async def until(predicate: object, deadline_s: float = 20.0) -> None:
    """Poll `predicate()` with a deadline (no fixed sleeps)."""
    deadline = time.monotonic() + deadline_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        await asyncio.sleep(0.01)


async def counts_become(deadletters: DeadLetters, expected: dict[str, int], deadline_s: float = 20.0) -> None:
    deadline = time.monotonic() + deadline_s
    while (got := await deadletters.counts()) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"dead-letter counts {got} never became {expected}")
        await asyncio.sleep(0.01)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return sample_street(1)


def water_meters(registry: Registry, n: int) -> list[tuple[str, str]]:
    out = []
    for d in registry.devices.values():
        if d.device_class == "water_meter":
            placement = registry.placement(d.id)
            assert placement is not None
            out.append((placement.community_id, d.id))
            if len(out) == n:
                break
    return out


def publish(port: int, messages: list[tuple[str, bytes]], *, retain: bool = False) -> None:
    """Publish QoS 1 and wait for every PUBACK from the broker."""
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{time.monotonic_ns()}")
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        infos = [c.publish(t, p, qos=1, retain=retain) for t, p in messages]
        for info in infos:
            info.wait_for_publish(timeout=30)
    finally:
        c.disconnect()
        c.loop_stop()


def telemetry(registry: Registry, n_devices: int, per_device: int) -> list[tuple[str, bytes]]:
    now = time.time()
    msgs = []
    for community, device in water_meters(registry, n_devices):
        for seq in range(per_device):
            body = {"ts": now - 60 + seq * 0.001, "seq": seq, "volume_m3": 10.0 + seq / 1000}
            msgs.append((topic_for(community, device, "telemetry"), json.dumps(body).encode()))
    return msgs


def store_down(deadletters: DeadLetters, monkeypatch: pytest.MonkeyPatch, *, times: int) -> list[bool]:
    """The dead-letter store fails its next `times` writes; the list returned empties as they happen."""
    original = deadletters.add_once
    failures = [True] * times

    async def flaky(spool_id: str, rows: Sequence[tuple[int, RefusedMessage]]) -> int:
        if failures:
            failures.pop()
            raise ConnectionError("store unreachable")
        return await original(spool_id, rows)

    monkeypatch.setattr(deadletters, "add_once", flaky)
    return failures


class Harness:
    def __init__(self, ingester: Ingester, sink: MemorySink, deadletters: DeadLetters, rules: list[Reading]) -> None:
        self.ingester, self.sink, self.deadletters, self.rules = ingester, sink, deadletters, rules


@pytest.fixture
def spool_max_bytes() -> int:
    return 2 * 1024**3


@pytest.fixture
async def harness(
    mosquitto: MosquittoProcess, registry: Registry, tmp_path: Path, spool_max_bytes: int
) -> AsyncIterator[Harness]:
    clock = SystemClock()
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await create_tables(engine)
    deadletters = DeadLetters(engine)
    sink = MemorySink()
    rules: list[Reading] = []
    rules_fail: list[bool] = [True]  # the first call fails once

    async def on_rules(readings: Sequence[Reading]) -> None:
        if rules_fail:
            rules_fail.pop()
            raise RuntimeError("rule engine hiccup")
        rules.extend(readings)

    transport = GmqttTransport(MqttOptions(port=mosquitto.port, client_id=f"ingest-{tmp_path.name}"), now=clock.now)
    ingester = Ingester(
        transport=transport,
        decoder=Decoder(registry, clock),
        spool=Spool(tmp_path / "spool.db", spool_max_bytes, consumers=("telemetry", "rules")),
        sink=sink,
        deadletters=deadletters,
        metrics=IngestMetrics(),
        clock=clock,
        consumers={"rules": on_rules},
        tuning=IngestTuning(retry_initial_s=0.01, commit_retry_max_s=0.05, housekeeping_s=0.05),
    )
    async with ingester:
        await until(lambda: transport.connected)
        yield Harness(ingester, sink, deadletters, rules)
    ingester.spool.close()
    await engine.dispose()


async def test_messages_reach_sink_and_consumers(
    harness: Harness, mosquitto: MosquittoProcess, registry: Registry
) -> None:
    msgs = telemetry(registry, 5, 40)
    await asyncio.to_thread(publish, mosquitto.port, msgs)
    await until(lambda: len(harness.sink.readings) == 200 and len(harness.rules) == 200)
    got = {(r.device_id, r.seq) for r in harness.sink.readings}
    assert len(got) == 200
    assert {(r.device_id, r.seq) for r in harness.rules} == got
    m = harness.ingester.metrics
    assert m.received._value.get() == 200
    assert m.consumer_errors.labels("rules")._value.get() == 1  # failed once, retried: nothing lost
    assert await harness.ingester.ready() == {"broker": True, "spool": True, "sink": True}


async def test_refusals_go_to_dead_letters_and_duplicates_are_dropped(
    harness: Harness, mosquitto: MosquittoProcess, registry: Registry
) -> None:
    ((community, device),) = water_meters(registry, 1)
    good = telemetry(registry, 1, 3)
    junk = [(topic_for(community, device, "telemetry"), b"{not json"), ("cw/x/nobody/telemetry", b"{}")]
    await asyncio.to_thread(publish, mosquitto.port, good + junk + good)
    await until(lambda: harness.ingester.metrics.received._value.get() == 8)
    # `received` counts a batch before its spool append, which is what counts the duplicates: wait for those
    await until(lambda: harness.ingester.metrics.duplicates._value.get() == 3)
    # everything spooled has reached the sink: the repeats were not among it
    await until(lambda: harness.ingester.spool.depth("telemetry") == 0)
    assert len(harness.sink.readings) == 3
    await counts_become(harness.deadletters, {"malformed_json": 1, "unknown_device": 1})


async def test_a_retained_message_is_dead_lettered_and_cleared_from_the_broker(
    harness: Harness, mosquitto: MosquittoProcess, registry: Registry
) -> None:
    """docs/device-protocol.md: devices must not retain. The message is refused with its reason, not stored, and
    its stale copy is deleted from the broker (else every new subscriber would get it)."""
    ((topic, payload),) = telemetry(registry, 1, 1)
    await asyncio.to_thread(publish, mosquitto.port, [(topic, payload)], retain=True)
    await counts_become(harness.deadletters, {"retained": 1})
    deadline = time.monotonic() + 20
    while await asyncio.to_thread(retained_message, mosquitto.port, topic) is not None:
        assert time.monotonic() < deadline, "the retained message is still on the broker"
    await asyncio.to_thread(publish, mosquitto.port, telemetry(registry, 1, 1))  # behind the deletion's echo
    await until(lambda: len(harness.sink.readings) == 1)
    # the echo of the deletion is no message (the look-up's probes are refused as malformed_json)
    assert (await harness.deadletters.counts())["retained"] == 1
    assert harness.ingester.metrics.refused.labels("retained")._value.get() == 1


async def test_topics_off_the_protocol_are_dead_lettered(
    harness: Harness, mosquitto: MosquittoProcess, registry: Registry
) -> None:
    """Fewer or more levels than cw/{community}/{device}/{channel}: refused as bad_topic, not lost at the broker."""
    ((topic, payload),) = telemetry(registry, 1, 1)
    off = [(topic + "/extra", payload), (topic.rsplit("/", 1)[0], payload), ("cw", payload)]
    await asyncio.to_thread(publish, mosquitto.port, off)
    await counts_become(harness.deadletters, {"bad_topic": 3})
    rows = await harness.deadletters.list()
    assert sorted(r.topic for r in rows) == sorted(t for t, _ in off)


async def test_sink_outage_fills_spool_then_drains(
    harness: Harness, mosquitto: MosquittoProcess, registry: Registry
) -> None:
    harness.sink.down = True
    msgs = telemetry(registry, 4, 50)
    await asyncio.to_thread(publish, mosquitto.port, msgs)  # acknowledged while the sink is down
    await until(lambda: harness.ingester.spool.depth("telemetry") == 200)
    assert harness.sink.readings == []
    assert (await harness.ingester.ready())["sink"] is False
    harness.sink.down = False
    await until(lambda: len(harness.sink.readings) == 200)
    await until(lambda: harness.ingester.spool.depth("telemetry") == 0)


async def test_sink_refusals_are_dead_lettered(
    harness: Harness, mosquitto: MosquittoProcess, registry: Registry
) -> None:
    msgs = telemetry(registry, 2, 5)
    (_, first), _ = water_meters(registry, 2)
    harness.sink.refuse_device = first
    await asyncio.to_thread(publish, mosquitto.port, msgs)
    await until(lambda: len(harness.sink.readings) == 5)
    await until(lambda: harness.ingester.metrics.refused.labels("sink_rejected")._value.get() == 5)
    await counts_become(harness.deadletters, {"sink_rejected": 5})


async def test_sink_refusals_survive_a_dead_letter_store_hiccup(
    harness: Harness, mosquitto: MosquittoProcess, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dead letter is the only copy of a point the database refused: when it cannot be stored, the batch
    is written again (points are idempotent) instead of the cursor moving past it."""
    failures = store_down(harness.deadletters, monkeypatch, times=1)
    msgs = telemetry(registry, 2, 5)
    (_, first), _ = water_meters(registry, 2)
    harness.sink.refuse_device = first
    await asyncio.to_thread(publish, mosquitto.port, msgs)
    await counts_become(harness.deadletters, {"sink_rejected": 5})
    assert not failures
    # the other meter's readings may come in a later batch than the refused ones
    await until(lambda: len({(r.device_id, r.seq) for r in harness.sink.readings}) == 5)


@pytest.mark.parametrize("spool_max_bytes", [96 * 1024])
async def test_full_spool_stops_acknowledgements_until_the_sink_drains_it(
    harness: Harness, mosquitto: MosquittoProcess, registry: Registry
) -> None:
    harness.sink.down = True
    msgs = telemetry(registry, 10, 100)  # ~1,000 readings: several times what 96 KiB holds
    await asyncio.to_thread(publish, mosquitto.port, msgs)  # the broker has them all
    committer = harness.ingester._committer
    # full: appends fail, so received messages wait in the committer, unacknowledged
    await until(lambda: not harness.ingester.spool.writable() and committer.pending > 0)
    assert harness.ingester.metrics.spooled._value.get() < len(msgs)
    harness.sink.down = False
    await until(lambda: len(harness.sink.readings) == len(msgs), deadline_s=60)
    assert len({(r.device_id, r.seq) for r in harness.sink.readings}) == len(msgs)


@pytest.mark.parametrize("store_failures", [0, 2])
async def test_a_decoder_bug_dead_letters_the_message_instead_of_losing_it(
    harness: Harness,
    mosquitto: MosquittoProcess,
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    store_failures: int,
) -> None:
    """Its dead letter is its only copy: while the store refuses it, the batch is retried, not acknowledged."""

    def broken(*_a: object, **_k: object) -> list[Reading]:
        raise KeyError("oops")

    monkeypatch.setattr(harness.ingester.decoder, "decode", broken)
    failures = store_down(harness.deadletters, monkeypatch, times=store_failures)
    await asyncio.to_thread(publish, mosquitto.port, telemetry(registry, 1, 2))
    await counts_become(harness.deadletters, {"decoder_error": 2})
    assert not failures


async def test_a_batch_retried_after_a_full_spool_stores_its_decoder_failures_once(
    harness: Harness, mosquitto: MosquittoProcess, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(topic: str, payload: bytes, **_k: object) -> list[Reading]:
        if b'"seq": 0,' in payload:  # the first message of each meter: the decoder's bug
            raise KeyError("oops")
        return decode(topic, payload, **_k)  # type: ignore[arg-type]

    decode = harness.ingester.decoder.decode
    append = harness.ingester.spool.append
    full = [True]

    def append_once_full(*a: Any, **k: Any) -> Any:
        if full:
            full.pop()
            raise SpoolFullError(2048, 1024)
        return append(*a, **k)

    monkeypatch.setattr(harness.ingester.decoder, "decode", broken)
    monkeypatch.setattr(harness.ingester.spool, "append", append_once_full)
    msgs = telemetry(registry, 1, 2)
    await asyncio.to_thread(publish, mosquitto.port, msgs)
    await until(lambda: len(harness.sink.readings) == 1)
    assert not full
    await counts_become(harness.deadletters, {"decoder_error": 1})


class IdleTransport:
    connected = False

    async def run(self, handler: object) -> None:
        await asyncio.Event().wait()


async def test_stop_before_run_makes_run_return(tmp_path: Path, registry: Registry) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    ingester = Ingester(
        transport=IdleTransport(),
        decoder=Decoder(registry, SystemClock()),
        spool=Spool(tmp_path / "spool.db"),
        sink=MemorySink(),
        deadletters=DeadLetters(engine),
    )
    await ingester.stop()
    await asyncio.wait_for(ingester.run(), timeout=10)
    assert await ingester.ready() == {"broker": False, "spool": True, "sink": True}
    ingester.spool.close()
    await engine.dispose()
