"""One contract test for every (device class, channel) of protocol v1: the published examples validate, and
each way a broken device can get a message wrong is refused. Parametrised over `payloads.MODELS`, so a new
class or channel is covered by adding its model and examples."""

from __future__ import annotations

import contextlib
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from devices.examples import EXAMPLES, examples_for
from devices.model import DeviceClass
from devices.payloads import MAX_EPOCH, MODELS, Channel, Payload

PAIRS = sorted(MODELS, key=lambda k: (k[0].value, k[1].value))
IDS = [f"{c.value}.{ch.value}" for c, ch in PAIRS]
Pair = tuple[DeviceClass, Channel]


def model_of(pair: Pair) -> type[Payload]:
    return MODELS[pair]


def refused(model: type[Payload], payload: dict[str, Any]) -> bool:
    """True when BOTH entry points refuse the payload (the ingester uses JSON; the simulator uses dicts)."""
    try:
        model.model_validate(payload)
        return False
    except ValidationError:
        pass
    try:
        model.model_validate_json(json.dumps(payload, allow_nan=True))
        return False
    except ValidationError:
        return True


def field_specs(model: type[Payload]) -> dict[str, list[dict[str, Any]]]:
    """Per field, the non-null JSON-schema alternatives (so constraints are read from the published contract)."""
    props: dict[str, Any] = model.model_json_schema()["properties"]
    out = {}
    for name, spec in props.items():
        alts = spec.get("anyOf", [spec])
        out[name] = [a for a in alts if a.get("type") != "null"]
    return out


def base(pair: Pair) -> dict[str, Any]:
    return examples_for(*pair)[0]


def test_every_pair_has_examples() -> None:
    assert set(EXAMPLES) == set(MODELS)
    assert all(len(v) >= 2 for v in EXAMPLES.values())
    # examples show both time forms somewhere for each pair
    for pair, examples in EXAMPLES.items():
        kinds = {type(e["ts"]) for e in examples}
        assert str in kinds, pair
        assert kinds & {int, float}, pair


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_examples_validate_the_same_from_json_and_dicts(pair: Pair) -> None:
    model = model_of(pair)
    for example in examples_for(*pair):
        from_dict = model.model_validate(example)
        from_json = model.model_validate_json(json.dumps(example, ensure_ascii=False).encode())
        assert from_dict == from_json
        # what the models dump validates again to the same message (the simulator publishes dumps)
        assert model.model_validate_json(from_dict.model_dump_json(exclude_none=True)) == from_dict
        assert 0 <= from_dict.epoch() <= MAX_EPOCH


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_unknown_field_refused(pair: Pair) -> None:
    for extra in ("extra", "Event", "ts_ms", "room"):
        assert refused(model_of(pair), {**base(pair), extra: 1})


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_non_finite_numbers_refused(pair: Pair) -> None:
    model = model_of(pair)
    numeric = [n for n, alts in field_specs(model).items() if any(a.get("type") == "number" for a in alts)]
    assert "ts" in numeric
    for name in numeric:
        for bad in (math.nan, math.inf, -math.inf):
            assert refused(model, {**base(pair), name: bad}), (name, bad)


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_missing_required_field_refused(pair: Pair) -> None:
    model = model_of(pair)
    required = model.model_json_schema().get("required", [])
    assert "ts" in required
    for name in required:
        for example in examples_for(*pair):
            assert refused(model, {k: v for k, v in example.items() if k != name}), name


def wrong_types(alts: list[dict[str, Any]]) -> list[Any]:
    """Values of a JSON type none of the alternatives allows, including the coercions pydantic's lax mode
    would accept ("1.5" for a number, "yes" or 1 for a boolean)."""
    types = {a.get("type") for a in alts}
    candidates: list[Any] = [{"v": 1}, [[1]]]
    if types & {"number", "integer"}:
        candidates += ["1.5", "0", True]
    if "integer" in types:
        candidates += [1.5, 2.0]
    if "boolean" in types:
        candidates += ["yes", "true", 1, 0, None]
    if "string" in types and not types & {"number", "integer"}:
        candidates += [5, 1.5, False]
    if "array" in types:
        candidates += ["[0.1, 0.2, 0.3, 0.4]", 0.5]
    return candidates


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_wrong_type_refused(pair: Pair) -> None:
    model = model_of(pair)
    for name, alts in field_specs(model).items():
        for bad in wrong_types(alts):
            assert refused(model, {**base(pair), name: bad}), (name, bad)


def out_of_range(alts: list[dict[str, Any]]) -> list[Any]:
    bad: list[Any] = []
    for a in alts:
        if "maximum" in a:
            bad.append(a["maximum"] + (1 if a["maximum"] < 1e6 else a["maximum"]))
        if "exclusiveMaximum" in a:
            bad.append(a["exclusiveMaximum"])
        if "minimum" in a:
            bad.append(a["minimum"] - 1)
        if "maxLength" in a:
            bad.append("x" * (a["maxLength"] + 1))
        if "enum" in a or "const" in a:
            bad.append("not_a_known_value")
        if a.get("type") == "array" and "maxItems" in a:
            bad.append([0] * (a["maxItems"] + 1))
        if a.get("type") == "array" and "minItems" in a and a["minItems"] > 0:
            bad.append([0] * (a["minItems"] - 1))
    return bad


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_out_of_range_refused(pair: Pair) -> None:
    model = model_of(pair)
    checked = 0
    for name, alts in field_specs(model).items():
        for bad in out_of_range(alts):
            assert refused(model, {**base(pair), name: bad}), (name, bad)
            checked += 1
    assert checked >= 3  # ts min/max and seq at least


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
@pytest.mark.parametrize(
    "ts",
    [
        "2026-03-01T08:00:00",  # no offset
        "2026-03-01 08:00:00",
        "2026-03-01",
        "08:00:00+08:00",
        "1772323200",  # epoch as a string
        1772323200000,  # milliseconds
        "2026-02-30T08:00:00+08:00",
        "2026-03-01T08:00:00+0800",  # offset without colon is not RFC 3339
        "",
    ],
)
def test_bad_timestamps_refused(pair: Pair, ts: Any) -> None:
    assert refused(model_of(pair), {**base(pair), "ts": ts})


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_other_channels_payloads_refused(pair: Pair) -> None:
    model = model_of(pair)
    checked = 0
    for other, examples in EXAMPLES.items():
        if other[1] is pair[1]:
            continue  # same channel of another class: shapes may legitimately overlap ("low_battery" events)
        checked += len(examples)
        for example in examples:
            assert refused(model, example), (other, example)
    assert checked > 10


def test_nested_frozen_readings_are_checked() -> None:
    pair = (DeviceClass.WATER_METER, Channel.TELEMETRY)
    msg = examples_for(*pair)[1]
    for bad in ({"ts": "2026-03-01T22:00:00", "volume_m3": 1}, {"ts": 1, "volume_m3": -1}, {"ts": 1, "x": 1}):
        assert refused(MODELS[pair], {**msg, "frozen": [bad]}), bad
    assert refused(MODELS[pair], {**msg, "frozen": [{"ts": 1, "volume_m3": 1}] * 97})


# --- properties -----------------------------------------------------------------------------------------------

aware = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2999, 12, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=st.sampled_from(PAIRS), when=aware, as_epoch=st.booleans())
def test_device_time_in_either_form(pair: Pair, when: datetime, as_epoch: bool) -> None:
    ts: Any = when.timestamp() if as_epoch else when.isoformat()
    msg = model_of(pair).model_validate_json(json.dumps({**base(pair), "ts": ts}))
    assert msg.epoch() == pytest.approx(when.timestamp(), abs=1e-6)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=st.sampled_from(PAIRS), field=st.text(max_size=12), value=json_values)
def test_arbitrary_input_is_accepted_or_refused_never_crashes(pair: Pair, field: str, value: Any) -> None:
    """Whatever a device sends, validation either succeeds or raises ValidationError (which the ingester turns
    into a refusal reason); never another exception."""
    model = model_of(pair)
    known = field_specs(model)
    key = field if field else next(iter(known))
    payload = {**base(pair), key: value}
    try:
        msg = model.model_validate_json(json.dumps(payload, allow_nan=True))
    except ValidationError:
        return
    assert key in known
    assert math.isfinite(msg.epoch())


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    for model in set(MODELS.values()):
        with contextlib.suppress(ValidationError):
            model.model_validate_json(raw)


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_null_only_where_the_doc_allows_it(pair: Pair) -> None:
    """Optional fields without a default take null; fields with a default (flags) refuse it."""
    model = model_of(pair)
    for name, field in model.model_fields.items():
        if field.is_required():
            assert refused(model, {**base(pair), name: None}), name
        elif field.default is None:
            model.model_validate({**base(pair), name: None})
        else:
            assert refused(model, {**base(pair), name: None}), name
