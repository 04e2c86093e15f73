"""The msgspec fast path accepts exactly what the pydantic models accept, with the same values.

Every payload is decoded twice, once with the fast path and once through pydantic only; the verdicts (readings,
or refusal reason and detail) must be identical. Payloads are the devices examples and hypothesis-generated
documents built from every model's fields with valid, boundary and wrong-typed values."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.clock import ManualClock
from devices.examples import EXAMPLES
from devices.model import DeviceClass
from devices.payloads import MODELS, Channel
from devices.reading import Reading
from devices.topics import topic_for
from ingest.decode import Decoder
from ingest.decode_fast import fast_decoder
from ingest.refusals import Refused

from .corpus.registry import DEVICE_OF_CLASS, NOW, registry

PAIRS = sorted(MODELS, key=lambda k: (k[0].value, k[1].value))
# One (class, channel) per distinct model: the status model is shared by every class.
MODEL_PAIRS = list({MODELS[p]: p for p in reversed(PAIRS)}.values())
FAST = Decoder(registry(), ManualClock(NOW), max_future_s=2 * 86_400)
SLOW = Decoder(registry(), ManualClock(NOW), max_future_s=2 * 86_400, fast=False)


def verdict(decoder: Decoder, topic: str, payload: bytes) -> list[Reading] | tuple[str, str]:
    try:
        return decoder.decode(topic, payload, retain=False, received_at=NOW)
    except Refused as e:
        return (e.reason.value, e.detail)


def test_every_model_but_those_with_urls_has_a_fast_path() -> None:
    without = {m.__name__ for m in MODELS.values() if fast_decoder(m) is None}
    assert without == {"CameraEvent"}


@pytest.mark.parametrize(("cls", "channel"), PAIRS, ids=[f"{c.value}-{ch.value}" for c, ch in PAIRS])
def test_examples_take_the_fast_path_with_the_same_result(cls: DeviceClass, channel: Channel) -> None:
    topic = topic_for("c1", DEVICE_OF_CLASS[cls], channel)
    fast = fast_decoder(MODELS[(cls, channel)])
    for example in EXAMPLES.get((cls, channel), []):
        payload = json.dumps(example).encode()
        if fast is not None:
            fast.decoder.decode(payload)  # the examples really are accepted by the fast path itself
        assert verdict(FAST, topic, payload) == verdict(SLOW, topic, payload)


@pytest.mark.parametrize(("cls", "channel"), PAIRS, ids=[f"{c.value}-{ch.value}" for c, ch in PAIRS])
def test_examples_are_accepted_without_pydantic(
    cls: DeviceClass, channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard against repeated keys lets ordinary payloads through: with the pydantic path switched off, the
    examples of every model with a fast path still decode, written compactly or with spaces."""
    if fast_decoder(MODELS[(cls, channel)]) is None:
        pytest.skip("no fast path")
    decoder = Decoder(registry(), ManualClock(NOW), max_future_s=2 * 86_400)
    monkeypatch.setattr(decoder, "_validate", lambda *_: pytest.fail("took the pydantic path"))
    topic = topic_for("c1", DEVICE_OF_CLASS[cls], channel)
    for example in EXAMPLES.get((cls, channel), []):
        for separators in ((",", ":"), (", ", ": "), (" , ", " : ")):
            assert decoder.decode(topic, json.dumps(example, separators=separators).encode(), retain=False,
                                  received_at=NOW)  # fmt: skip


_ts_strings = st.sampled_from(
    [
        "2026-03-01T08:00:00+08:00",
        "2026-03-01T00:00:00Z",
        "2026-03-01t00:00:00z",
        "2026-03-01 08:00:00+08:00",
        "2026-03-01T08:00:00.123456789+08:00",
        "2026-03-01T08:00:00",
        "2026-02-30T08:00:00+08:00",
        "2026-03-01T24:00:00+08:00",
        "2026-03-01T08:00:00+24:00",
        "2026-03-01T08:00:60Z",
        "1772323200",
        "",
        "yesterday",
    ]
)
_boundaries = st.sampled_from(
    [0, -0.0, 1, 0.5, -1, 64, 65, 100, 100.0, 100.0000001, 200, 1e7, 1e7 + 1, 1024, 1025, 10_000,
     32_503_680_000, 32_503_680_001, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63), 1e-300, 1e300]
)  # fmt: skip
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-5, max_value=300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-100, max_value=1100),
    _boundaries,
    st.text(max_size=70),
    st.text(alphabet='ab😀é\\"\n', min_size=60, max_size=70),
    _ts_strings,
)


def _example_values(name: str) -> list[Any]:
    values = [ex[name] for exs in EXAMPLES.values() for ex in exs if name in ex]
    return values or [None]


def _timestamp() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(min_value=int(NOW) - 86_400, max_value=int(NOW) + 86_400),
        st.floats(min_value=NOW - 86_400, max_value=NOW + 86_400),
        _ts_strings,
        _scalar,
    )


def _frozen() -> st.SearchStrategy[Any]:
    item = st.fixed_dictionaries(
        {"ts": _timestamp(), "volume_m3": st.one_of(st.floats(min_value=0, max_value=1e7), _scalar)},
        optional={"extra": _scalar},
    )
    return st.one_of(
        st.lists(item, max_size=3), st.lists(item, max_size=3), st.lists(item, min_size=96, max_size=97), _scalar
    )


@st.composite
def documents(draw: st.DrawFn, cls: DeviceClass, channel: Channel) -> dict[str, Any]:
    model = MODELS[(cls, channel)]
    doc: dict[str, Any] = {}
    for name in model.model_fields:
        if draw(st.integers(0, 9)) == 0:
            continue  # sometimes a field is missing
        valid_ish = draw(st.integers(0, 4)) > 0  # mostly plausible values, so both verdicts are exercised
        if name == "ts":
            doc[name] = draw(_timestamp()) if not valid_ish else draw(st.sampled_from(_example_values(name)))
        elif name == "frozen":
            doc[name] = draw(_frozen())
        elif name == "bbox":
            doc[name] = draw(st.one_of(st.lists(st.floats(min_value=0, max_value=1), max_size=5), _scalar))
        elif valid_ish:
            doc[name] = draw(st.sampled_from(_example_values(name)))
        else:
            doc[name] = draw(_scalar)
    if draw(st.integers(0, 9)) == 0:
        doc[draw(st.sampled_from(["extra", "humidity", "Ts", ""]))] = draw(_scalar)
    return doc


@pytest.mark.parametrize(("cls", "channel"), MODEL_PAIRS, ids=[f"{c.value}-{ch.value}" for c, ch in MODEL_PAIRS])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_payloads_get_the_same_verdict(cls: DeviceClass, channel: Channel, data: st.DataObject) -> None:
    doc = data.draw(documents(cls, channel))
    payload = json.dumps(doc, allow_nan=True).encode()
    topic = topic_for("c1", DEVICE_OF_CLASS[cls], channel)
    assert verdict(FAST, topic, payload) == verdict(SLOW, topic, payload)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_generated_payloads_exercise_both_outcomes() -> None:
    """Guard against a strategy that only produces junk: a sample must contain accepted and refused payloads."""
    accepted = refused = 0
    strategy = documents(DeviceClass.SMOKE_DETECTOR, Channel.TELEMETRY)
    for _ in range(150):
        doc = strategy.example()
        result = verdict(FAST, "cw/c1/SD-0001/telemetry", json.dumps(doc, allow_nan=True).encode())
        if isinstance(result, list):
            accepted += 1
        else:
            refused += 1
    assert accepted >= 10
    assert refused >= 10


def _key(name: str, escaped: int | None) -> str:
    """`name` as a JSON string, with the character at `escaped` written as a \\u escape."""
    if escaped is None:
        return json.dumps(name)
    i = escaped % len(name)
    return '"' + name[:i] + f"\\u{ord(name[i]):04x}" + name[i + 1 :] + '"'


@st.composite
def repeated_keys(draw: st.DrawFn, cls: DeviceClass, channel: Channel) -> bytes:
    """A generated document with one model key given twice: plainly or with an escape, with or without spaces."""
    doc = draw(documents(cls, channel))
    pairs = [(json.dumps(k), v) for k, v in doc.items()]
    name = draw(st.sampled_from(list(MODELS[(cls, channel)].model_fields)))
    value = draw(st.sampled_from(_example_values(name))) if draw(st.booleans()) else draw(_scalar)
    for _ in range(2 if name not in doc else 1):
        spelling = _key(name, draw(st.none() | st.integers(0, 40)))
        pairs.insert(draw(st.integers(0, len(pairs))), (spelling, value))
    colon = draw(st.sampled_from([":", " :", ": ", "\n:\t"]))
    return ("{" + ",".join(f"{k}{colon}{json.dumps(v, allow_nan=True)}" for k, v in pairs) + "}").encode()


@pytest.mark.parametrize(("cls", "channel"), MODEL_PAIRS, ids=[f"{c.value}-{ch.value}" for c, ch in MODEL_PAIRS])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_repeated_key_is_refused_by_both_paths(cls: DeviceClass, channel: Channel, data: st.DataObject) -> None:
    payload = data.draw(repeated_keys(cls, channel))
    topic = topic_for("c1", DEVICE_OF_CLASS[cls], channel)
    fast, slow = verdict(FAST, topic, payload), verdict(SLOW, topic, payload)
    assert fast == slow
    assert isinstance(fast, tuple)
    assert fast[0] == "duplicate_key", payload


@pytest.mark.parametrize(
    "body",
    [
        '"state": "heartbeat", "battery_pct": 80',  # a field sent with its default value
        '"state": "fault", "detail": "he said \\"state\\": stop"',  # escaped quotes: pydantic decides
        '"battery_pct": null, "detail": "state"',  # an explicit null: pydantic decides
    ],
)
def test_payloads_without_a_repeated_key_are_accepted_by_both_paths(body: str) -> None:
    topic = topic_for("c1", DEVICE_OF_CLASS[DeviceClass.SMOKE_DETECTOR], Channel.STATUS)
    payload = ('{"ts": ' + str(int(NOW)) + ", " + body + "}").encode()
    fast = verdict(FAST, topic, payload)
    assert isinstance(fast, list), fast
    assert fast == verdict(SLOW, topic, payload)
