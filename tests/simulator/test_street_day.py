"""A day of the whole sample street: every payload validates against protocol v1, topics and placement are
right, time order holds, and every device keeps to its expected interval (heartbeats as configured)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest

from devices.model import DeviceClass
from devices.payloads import Channel, model_for
from devices.registry import Registry
from devices.topics import parse_topic
from simulator.generate import Simulation
from tests.simulator.conftest import scenario


@dataclass
class DayStats:
    messages: int = 0
    invalid: list[str] = field(default_factory=list)
    out_of_order: int = 0
    wrong_community: int = 0
    per_pair: Counter[tuple[DeviceClass, Channel]] = field(default_factory=Counter)
    max_gap: dict[str, float] = field(default_factory=dict)
    seq_broken: int = 0
    outage_devices: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def day(street: Registry) -> tuple[Simulation, DayStats]:
    sim = Simulation(street, scenario(seed=11, start="2026-03-04T00:00:00+08:00", days=1))
    st = DayStats()
    last_ts = 0.0
    last_seen: dict[str, float] = {}
    last_seq: dict[str, int] = {}
    for m in sim.messages():
        st.messages += 1
        if m.ts < last_ts:
            st.out_of_order += 1
        last_ts = m.ts
        topic = parse_topic(m.topic)
        dev = street.devices[topic.device_id]
        placement = street.placement(dev.id)
        assert placement is not None
        if placement.community_id != topic.community_id:
            st.wrong_community += 1
        model = model_for(dev.device_class, topic.channel)
        st.per_pair[(dev.device_class, topic.channel)] += 1
        try:
            assert model is not None
            p = model.model_validate_json(m.payload)
        except Exception as e:  # collect, so one run reports every kind of failure
            st.invalid.append(f"{m.topic} {m.payload[:120]!r}: {e}")
            continue
        if p.seq is not None:
            if dev.id in last_seq and p.seq != last_seq[dev.id] + 1:
                st.seq_broken += 1
            last_seq[dev.id] = p.seq
        prev = last_seen.get(dev.id, sim.start)
        st.max_gap[dev.id] = max(st.max_gap.get(dev.id, 0.0), m.ts - prev)
        last_seen[dev.id] = m.ts
        if topic.channel is Channel.STATUS and b'"online"' in m.payload:
            st.outage_devices.add(dev.id)
    for dev_id, seen in last_seen.items():
        st.max_gap[dev_id] = max(st.max_gap[dev_id], sim.end - seen)
    return sim, st


def test_every_payload_validates_against_protocol_v1(day: tuple[Simulation, DayStats]) -> None:
    _, st = day
    assert st.messages > 200_000
    assert st.invalid == []


def test_messages_are_in_time_order_with_correct_topics_and_sequence_numbers(day: tuple[Simulation, DayStats]) -> None:
    _, st = day
    assert st.out_of_order == 0
    assert st.wrong_community == 0
    assert st.seq_broken == 0


def test_every_class_and_channel_the_street_uses_is_exercised(day: tuple[Simulation, DayStats]) -> None:
    _, st = day
    classes = {c for c, _ in st.per_pair}
    assert classes == set(DeviceClass)
    for cls in DeviceClass:
        if cls is not DeviceClass.SMOKE_DETECTOR:  # smoke detector events are rare by nature
            assert (cls, Channel.TELEMETRY) in st.per_pair or (cls, Channel.EVENT) in st.per_pair, cls


def test_devices_report_at_least_every_expected_interval(day: tuple[Simulation, DayStats]) -> None:
    """Heartbeats as configured: outside outages no device is silent longer than its interval (+ jitter),
    and every device is heard from (except daily meters whose upload falls outside this day)."""
    sim, st = day
    late: list[tuple[str, object]] = []
    for dev_id, dev in sim.world.devices.items():
        if dev_id in st.outage_devices:
            continue
        gap = st.max_gap.get(dev_id)
        if gap is None:
            late.append((dev_id, "silent"))
            continue
        interval = dev.expected_interval_s
        slack = 2 * interval if interval >= 86_400 else interval + max(60.0, interval * 0.05)
        if gap > slack:
            late.append((dev_id, round(gap)))
    assert late == []


def test_heartbeat_devices_send_status_at_their_interval(day: tuple[Simulation, DayStats]) -> None:
    sim, st = day
    cameras = len(sim.world.by_class[DeviceClass.AI_CAMERA])
    # a 300 s camera sends ~288 heartbeats a day; events replace some of them
    per_camera = st.per_pair[(DeviceClass.AI_CAMERA, Channel.STATUS)] / cameras
    assert 270 <= per_camera <= 290
    smoke = len(sim.world.by_class[DeviceClass.SMOKE_DETECTOR])
    assert 0.95 <= st.per_pair[(DeviceClass.SMOKE_DETECTOR, Channel.STATUS)] / smoke <= 1.05
