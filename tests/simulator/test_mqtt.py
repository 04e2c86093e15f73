"""Over a real Mosquitto: publish with PUBACK counting, record the live stream, replay the recording and get
the same messages in the same order; load mode; the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

from devices.registry import Registry
from simulator.cli import main
from simulator.clock import make_clock, paced
from simulator.generate import Simulation
from simulator.load import run_load
from simulator.publisher import Publisher
from simulator.record import Recorder
from simulator.recording import read_jsonl, write_jsonl
from testkit.services import MosquittoProcess
from tests.simulator.conftest import scenario


def _sample(street: Registry, n: int = 3000) -> list[tuple[str, bytes]]:
    sim = Simulation(street, scenario(hours=2, incidents=[{"kind": "door_forced", "at": "+10m"}]))
    devices = sorted(street.devices)[::20]  # a sample across every class
    return [(m.topic, m.payload) for _, m in zip(range(n), sim.messages(devices), strict=False)]


def test_publish_record_and_replay_give_the_same_messages_in_order(
    street: Registry, mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    sent = _sample(street)
    first = tmp_path / "live.jsonl"
    rec = Recorder(str(first), host=mosquitto.host, port=mosquitto.port, client_id="rec-1")
    rec.start()
    with Publisher(mosquitto.host, mosquitto.port, client_id="pub-1") as pub:
        for topic, payload in sent:
            pub.publish(topic, payload, key="gateway")  # one connection, one order
        assert pub.flush(30)
        stats = pub.stats()
    assert (stats.published, stats.acknowledged, stats.refused) == (len(sent), len(sent), 0)
    assert rec.wait(len(sent), 30) == len(sent)
    rec.stop()
    recorded = [(m.topic, m.payload) for m in read_jsonl(first)]
    assert recorded == sent

    second = tmp_path / "replayed.jsonl"
    rec2 = Recorder(str(second), host=mosquitto.host, port=mosquitto.port, client_id="rec-2")
    rec2.start()
    code = main(["replay", str(first), "--port", str(mosquitto.port), "--no-progress", "--client-id", "replayer"])
    assert code == 0
    assert rec2.wait(len(sent), 30) == len(sent)
    rec2.stop()
    assert [(m.topic, m.payload) for m in read_jsonl(second)] == sent


def test_many_connections_keep_each_device_in_order(
    street: Registry, mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    sent = _sample(street, 2000)
    out = tmp_path / "rec.jsonl"
    rec = Recorder(str(out), host=mosquitto.host, port=mosquitto.port, client_id="rec-n")
    rec.start()
    with Publisher(mosquitto.host, mosquitto.port, connections=4, client_id="pub-n") as pub:
        for topic, payload in sent:
            pub.publish(topic, payload, key=topic.split("/")[2])
        assert pub.flush(30)
    assert rec.wait(len(sent), 30) == len(sent)
    rec.stop()
    got = [(m.topic, m.payload) for m in read_jsonl(out)]
    assert sorted(got) == sorted(sent)
    for device in {t.split("/")[2] for t, _ in sent[:200]}:
        assert [p for t, p in got if t.split("/")[2] == device] == [p for t, p in sent if t.split("/")[2] == device]


def test_load_mode_reports_published_and_acknowledged(street: Registry, mosquitto: MosquittoProcess) -> None:
    result = run_load(
        devices=50, rate=0, duration=0.5, host=mosquitto.host, port=mosquitto.port, connections=2, registry=street
    )
    assert result.published > 0
    assert result.acknowledged == result.published
    assert result.refused == 0
    assert "acknowledged" in result.summary()


async def test_pacing_on_a_virtual_clock_follows_message_times(street: Registry) -> None:
    sim = Simulation(street, scenario(hours=1))
    messages = [m for _, m in zip(range(500), sim.messages(sorted(street.devices)[:400]), strict=False)]
    clock = make_clock(sim.start, None)  # as fast as possible: the clock jumps to each message
    seen = []
    async for m in paced(messages, clock):
        assert clock.now() >= m.ts
        seen.append(m)
    assert seen == messages
    assert clock.now() == messages[-1].ts


def test_cli_run_writes_a_replayable_recording_and_ground_truth(tmp_path: Path) -> None:
    out, truth = tmp_path / "m.jsonl", tmp_path / "t.jsonl"
    code = main(["run", "--scenario", "smoke-test", "--limit", "2000", "--out", str(out), "--truth", str(truth)])
    assert code == 0
    assert len(list(read_jsonl(out))) == 2000
    rows = [json.loads(x) for x in truth.read_text().splitlines()]
    assert {r["rule_id"] for r in rows if r["required"]} >= {"door_forced", "smoke_alarm", "thrown_object"}


def test_a_recording_round_trips_binary_payloads(tmp_path: Path) -> None:
    from simulator.message import SimMessage

    msgs = [SimMessage(1.5, "cw/c/d/telemetry", b"\xff\x00raw"), SimMessage(2.0, "cw/c/d/event", "温度".encode())]
    write_jsonl(msgs, tmp_path / "r.jsonl")
    assert list(read_jsonl(tmp_path / "r.jsonl")) == msgs


def test_publisher_refuses_an_unreachable_broker() -> None:
    import pytest

    from simulator.errors import PublishError
    from testkit.services import free_port

    with pytest.raises(PublishError):
        Publisher("127.0.0.1", free_port(), connect_timeout=2).connect()


async def test_offloaded_pacing_yields_the_same_messages(street: Registry) -> None:
    from simulator.clock import paced_offloaded

    sim = Simulation(street, scenario(hours=1))
    devices = sorted(street.devices)[:300]
    expected = list(sim.messages(devices))
    clock = make_clock(sim.start, None)
    got = [m async for m in paced_offloaded(sim.messages(devices), clock, chunk=97)]
    assert got == expected
