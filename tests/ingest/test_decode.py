"""The decoder: valid messages of every class and channel become Readings placed in the grid; every bad input
of the corpus is refused with its reason; random bytes and random JSON never escape as anything but `Refused`."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from core.clock import ManualClock
from devices.examples import EXAMPLES
from devices.model import DeviceClass
from devices.payloads import MODELS, Channel
from devices.reading import Reading
from devices.topics import topic_for
from ingest.decode import Decoder
from ingest.refusals import DECODER_REASONS, RefusalReason, Refused

from .corpus.cases import CASES, Case
from .corpus.registry import DEVICE_OF_CLASS, IN_HOME, NOW, registry

EXAMPLE_CASES = [(cls, ch, i, ex) for (cls, ch), exs in EXAMPLES.items() for i, ex in enumerate(exs)]


def make_decoder(**kw: Any) -> Decoder:
    # The examples span a day around NOW; widen the window so each is judged on its content, not its age.
    kw.setdefault("max_future_s", 2 * 86_400)
    return Decoder(registry(), ManualClock(NOW), **kw)


@pytest.mark.parametrize(
    ("cls", "channel", "example"),
    [(cls, ch, ex) for cls, ch, _, ex in EXAMPLE_CASES],
    ids=[f"{cls.value}-{ch.value}-{i}" for cls, ch, i, _ in EXAMPLE_CASES],
)
def test_every_example_decodes_into_placed_readings(
    cls: DeviceClass, channel: Channel, example: dict[str, Any]
) -> None:
    device = DEVICE_OF_CLASS[cls]
    readings = make_decoder().decode(
        topic_for("c1", device, channel), json.dumps(example).encode(), retain=False, received_at=123.0
    )
    model = MODELS[(cls, channel)].model_validate(example)
    current = readings[-1]
    assert current.device_id == device
    assert current.device_class is cls
    assert current.channel is channel
    assert (current.community_id, current.microgrid_id, current.building_id) == ("c1", "m1", "b1")
    assert current.household_id == ("h1" if cls in IN_HOME else None)
    assert current.ts == model.epoch()
    assert current.seq == example.get("seq")
    assert current.received_at == 123.0
    for r in readings:
        assert all(isinstance(v, bool | int | float | str) for v in r.fields.values()), r.fields
        assert "ts" not in r.fields
        assert "seq" not in r.fields
    for name, value in example.items():
        if name in ("ts", "seq", "frozen") or value is None:
            continue
        if isinstance(value, list):
            assert current.extra[name] == value
        elif name.endswith("_url"):
            assert current.fields[name] == str(getattr(model, name))
        else:
            assert current.fields[name] == value
    frozen = example.get("frozen") or []
    assert len(readings) == len(frozen) + 1


def test_water_meter_daily_upload_expands_frozen_readings_oldest_first() -> None:
    payload = {
        "ts": int(NOW),
        "seq": 7,
        "volume_m3": 12.5,
        "frozen": [{"ts": int(NOW) - 7200, "volume_m3": 12.1}, {"ts": "2026-03-01T09:00:00+08:00", "volume_m3": 12.3}],
    }
    readings = make_decoder().decode(
        "cw/c1/WM-0001/telemetry", json.dumps(payload).encode(), retain=False, received_at=NOW
    )
    assert [r.ts for r in readings] == [NOW - 7200, 1_772_326_800.0, NOW]
    assert [r.fields["volume_m3"] for r in readings] == [12.1, 12.3, 12.5]
    assert [r.seq for r in readings] == [None, None, 7]  # the spool dedups on (device, seq): only the message
    assert readings[0].extra == {"frozen": True}
    assert readings[-1].extra == {}
    assert readings[-1].fields["leak"] is False


def test_none_values_are_dropped_from_fields() -> None:
    payload = b'{"ts": %d, "smoke_obscuration_pct": 0.5, "temperature_c": null}' % int(NOW)
    (r,) = make_decoder().decode("cw/c1/SD-0001/telemetry", payload, retain=False, received_at=NOW)
    assert r.fields == {"smoke_obscuration_pct": 0.5}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_is_refused_with_the_right_reason(case: Case) -> None:
    decoder = Decoder(registry(), ManualClock(NOW))
    with pytest.raises(Refused) as info:
        decoder.decode(case.topic, case.payload, retain=case.retain, received_at=NOW)
    assert info.value.reason is case.reason, info.value.detail
    assert case.detail_has in info.value.detail
    assert 0 < len(info.value.detail) <= 200


def test_corpus_covers_every_reason_the_decoder_gives() -> None:
    assert {c.reason for c in CASES} == DECODER_REASONS


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_fast_path_changes_no_verdict_on_the_corpus(case: Case) -> None:
    verdicts = []
    for fast in (True, False):
        try:
            Decoder(registry(), ManualClock(NOW), fast=fast).decode(
                case.topic, case.payload, retain=case.retain, received_at=NOW
            )
        except Refused as e:
            verdicts.append((e.reason, e.detail))
    assert len(verdicts) == 2
    assert verdicts[0] == verdicts[1]


def test_time_window_is_inclusive_and_follows_the_clock() -> None:
    clock = ManualClock(NOW)
    decoder = Decoder(registry(), clock, max_future_s=300, max_age_s=600)
    for ts in (NOW + 300, NOW - 600):
        decoder.decode("cw/c1/SD-0001/telemetry", b'{"ts": %r, "smoke_obscuration_pct": 1}' % ts,
                       retain=False, received_at=NOW)  # fmt: skip
    clock.advance(601)
    with pytest.raises(Refused) as info:
        decoder.decode("cw/c1/SD-0001/telemetry", b'{"ts": %r, "smoke_obscuration_pct": 1}' % NOW,
                       retain=False, received_at=NOW)  # fmt: skip
    assert info.value.reason is RefusalReason.TS_PAST


def test_set_registry_drops_cached_routes() -> None:
    decoder = Decoder(registry(), ManualClock(NOW))
    payload = b'{"ts": %d, "smoke_obscuration_pct": 1}' % int(NOW)
    decoder.decode("cw/c1/SD-0001/telemetry", payload, retain=False, received_at=NOW)
    decoder.set_registry(registry(community_of_devices="c2"))  # the micro-grid moved to community c2
    with pytest.raises(Refused) as info:
        decoder.decode("cw/c1/SD-0001/telemetry", payload, retain=False, received_at=NOW)
    assert info.value.reason is RefusalReason.WRONG_COMMUNITY
    (r,) = decoder.decode("cw/c2/SD-0001/telemetry", payload, retain=False, received_at=NOW)
    assert r.community_id == "c2"


def test_the_route_cache_holds_every_topic_of_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Devices report round-robin: a cache smaller than the registry's topics would miss at every message (at
    district size it did, and a miss is most of a message's decoding)."""
    monkeypatch.setattr("ingest.decode._ROUTE_CACHE_MIN", 1)
    decoder = Decoder(registry(), ManualClock(NOW))
    routed: list[str] = []
    route = decoder._route

    def counted(topic: str) -> Any:
        routed.append(topic)
        return route(topic)

    monkeypatch.setattr(decoder, "_route", counted)
    payload = b'{"ts": %d, "state": "heartbeat"}' % int(NOW)
    topics = [topic_for("c1", dev, Channel.STATUS) for dev in DEVICE_OF_CLASS.values()]
    for _ in range(3):
        for topic in topics:
            decoder.decode(topic, payload, retain=False, received_at=NOW)
    assert routed == topics


def test_readings_are_ordinary_readings() -> None:
    """The decoder builds Readings without the dataclass __init__ (speed); they must be indistinguishable."""
    (r,) = make_decoder().decode(
        "cw/c1/SD-0001/status", b'{"ts": %d, "seq": 3, "state": "online"}' % int(NOW), retain=False, received_at=5.0
    )
    twin = Reading(
        device_id="SD-0001",
        device_class=DeviceClass.SMOKE_DETECTOR,
        channel=Channel.STATUS,
        ts=NOW,
        seq=3,
        fields={"state": "online"},
        community_id="c1",
        microgrid_id="m1",
        building_id="b1",
        household_id="h1",
        received_at=5.0,
        extra={},
    )
    assert r == twin
    assert repr(r) == repr(twin)
    assert replace(r, seq=4).seq == 4
    with pytest.raises(AttributeError):
        r.seq = 5  # type: ignore[misc]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.binary(max_size=300), retain=st.booleans())
def test_random_bytes_are_refused_cleanly(payload: bytes, retain: bool) -> None:
    decoder = Decoder(registry(), ManualClock(NOW))
    with pytest.raises(Refused):
        decoder.decode("cw/c1/SD-0001/telemetry", payload, retain=retain, received_at=NOW)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
_topics = st.sampled_from(
    ["cw/c1/SD-0001/telemetry", "cw/c1/WM-0001/telemetry", "cw/c1/CAM-0001/event", "cw/c1/EC-0001/status"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=_topics, doc=_json)
def test_random_json_is_decoded_or_refused_never_crashes(topic: str, doc: Any) -> None:
    payload = json.dumps(doc).encode()
    refusal: Refused | None = None
    try:
        readings = Decoder(registry(), ManualClock(NOW)).decode(topic, payload, retain=False, received_at=NOW)
    except Refused as e:
        refusal = e
    if refusal is not None:
        assert refusal.reason in DECODER_REASONS
        if refusal.reason is RefusalReason.NON_FINITE:
            assert "NaN" in payload.decode() or "Infinity" in payload.decode()
    else:
        assert readings
        for r in readings:
            assert all(not isinstance(v, float) or math.isfinite(v) for v in r.fields.values())


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("https://nvr.example.cn/snap/402.jpg", "https://nvr.example.cn/snap/402.jpg"),
        ("HTTP://NVR.Example.CN:8080/a.jpg", "http://nvr.example.cn:8080/a.jpg"),
        ("http://192.168.10.5/snap.jpg", "http://192.168.10.5/snap.jpg"),  # an NVR on the estate's LAN
        ("http://nvr.local/snap/1.jpg", "http://nvr.local/snap/1.jpg"),
    ],
)
def test_media_urls_over_http_are_stored_normalised(url: str, stored: str) -> None:
    """http(s) media URLs on a name or a LAN address pass (whether the board shows them is the allow-list's
    decision), stored as the parser normalised them."""
    payload = json.dumps({"ts": NOW, "event": "thrown_object", "confidence": 0.9, "snapshot_url": url}).encode()
    (r,) = Decoder(registry(), ManualClock(NOW)).decode("cw/c1/CAM-0001/event", payload, retain=False, received_at=NOW)
    assert r.fields["snapshot_url"] == stored


def test_a_media_url_on_this_machine_passes_only_for_the_demos_own_address() -> None:
    """A normal serve refuses a loopback snapshot URL; the demo allows its own address (`media.hosts`), nothing
    else of this machine."""
    from core.urls import parse_allow_entry

    def event(url: str) -> bytes:
        return json.dumps({"ts": NOW, "event": "thrown_object", "confidence": 0.9, "snapshot_url": url}).encode()

    own = "http://127.0.0.1:18080/demo/snap/CAM-0001/1.jpg"
    with pytest.raises(Refused) as e:
        Decoder(registry(), ManualClock(NOW)).decode("cw/c1/CAM-0001/event", event(own), retain=False, received_at=NOW)
    assert e.value.reason is RefusalReason.BAD_URL
    demo = Decoder(registry(), ManualClock(NOW), loopback_media=[parse_allow_entry("127.0.0.1:18080")])
    (r,) = demo.decode("cw/c1/CAM-0001/event", event(own), retain=False, received_at=NOW)
    assert r.fields["snapshot_url"] == own
    for other in ("http://127.0.0.1:5432/x.jpg", "http://localhost:18080/x.jpg", "http://169.254.169.254/x.jpg"):
        with pytest.raises(Refused):
            demo.decode("cw/c1/CAM-0001/event", event(other), retain=False, received_at=NOW)
