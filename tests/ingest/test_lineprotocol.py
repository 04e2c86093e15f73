"""Line protocol: schema (measurement, sorted tags, typed fields, seq, ns time) and the escaping rules."""

from __future__ import annotations

import types
from enum import IntEnum
from typing import Annotated, Literal, Union, get_args, get_origin

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace
from pydantic import AnyUrl

from devices.model import DeviceClass
from devices.payloads import MODELS, Channel
from devices.reading import Reading
from ingest.lineprotocol import LineProtocolError, escape_key, escape_string, line, lines, timestamp_ns

R = Reading(
    device_id="SD-0001",
    device_class=DeviceClass.SMOKE_DETECTOR,
    channel=Channel.TELEMETRY,
    ts=1_772_330_000.123456,
    seq=17,
    fields={"smoke_obscuration_pct": 0.4, "battery_pct": 93.0},
    community_id="c1",
    microgrid_id="m1",
    building_id="b1",
    household_id="h1",
)


def test_schema_of_a_point() -> None:
    assert line(R) == (
        "smoke_detector,building=b1,channel=telemetry,class=smoke_detector,community=c1,device=SD-0001,"
        "household=h1,microgrid=m1 smoke_obscuration_pct=0.4,battery_pct=93.0,seq=17i 1772330000123456000"
    )


def test_household_tag_only_for_in_home_devices_and_seq_only_when_sent() -> None:
    point = line(replace(R, household_id=None, seq=None))
    assert ",household=" not in point
    assert "seq=" not in point


def test_field_types() -> None:
    r = replace(R, fields={"f": 1.0, "i": 3, "b": True, "c": False, "s": "x", "big": 1e20, "tiny": 1e-5})
    fields = line(r).split(" ")[1]
    assert fields == 'f=1.0,i=3i,b=true,c=false,s="x",big=1e+20,tiny=1e-05,seq=17i'


def test_enum_subclasses_are_written_as_their_base_type() -> None:
    class Port(IntEnum):
        A = 2

    assert "port=2i" in line(replace(R, fields={"port": Port.A, "event": Channel.EVENT}))
    assert 'event="event"' in line(replace(R, fields={"event": Channel.EVENT}))


def test_escaping() -> None:
    assert escape_key("a b,c=d") == "a\\ b\\,c\\=d"
    assert escape_key("line\nbreak") == "line\\nbreak"
    assert escape_key("ends\\") == "ends\\_"
    assert escape_string('say "hi" \\ bye\nnow') == '"say \\"hi\\" \\\\ bye\\nnow"'
    r = replace(R, fields={"my field": 'a "quoted", spaced=string'}, building_id="b 1,x=y")
    point = line(r)
    assert ",building=b\\ 1\\,x\\=y," in point
    assert 'my\\ field="a \\"quoted\\", spaced=string"' in point


@given(st.text(alphabet=st.sampled_from('aZ-_0中 ,=\\\n\r\t"')))
def test_a_tag_value_is_escaped_as_a_field_key_is(value: str) -> None:
    """Tag values skip `translate` when nothing needs escaping; what they get is what the key's rules give."""
    expected = value.translate(
        str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
    )
    if expected.endswith("\\"):
        expected += "_"
    r = replace(R, building_id=value or "b")
    assert f",building={expected or 'b'},channel=" in line(r)


def test_timestamps_are_whole_microseconds_in_ns() -> None:
    assert timestamp_ns(1.5) == 1_500_000_000
    assert timestamp_ns(1_772_330_000.123456) % 1000 == 0
    assert timestamp_ns(0.1 + 0.2) == timestamp_ns(0.3)  # same instant, same point: replays overwrite


@pytest.mark.parametrize(
    "bad",
    [
        replace(R, fields={}, seq=None),
        replace(R, fields={"x": float("nan")}),
        replace(R, fields={"x": float("inf")}),
        replace(R, fields={"x": [1, 2]}),  # type: ignore[dict-item]
        replace(R, ts=10_000_000_000.0),  # year 2286: beyond InfluxDB's int64 ns
    ],
)
def test_unwritable_readings_raise(bad: Reading) -> None:
    with pytest.raises(LineProtocolError):
        line(bad)


def test_lines_separates_the_unwritable() -> None:
    bad = replace(R, fields={"x": float("nan")})
    ok, refused = lines([R, bad, R])
    assert [r for r, _ in ok] == [R, R]
    assert refused[0][0] is bad
    assert "x" in refused[0][1]


def _influx_type(annotation: object) -> str | None:
    """The line-protocol type a payload field is written as (None: not written as a field)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _influx_type(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        kinds = {_influx_type(a) for a in get_args(annotation) if a is not type(None)}
        assert len(kinds) == 1, annotation
        return kinds.pop()
    if origin is Literal or annotation in (str, AnyUrl):
        return "string"
    if origin is list:
        return None
    return {float: "float", int: "integer", bool: "boolean"}[annotation]  # type: ignore[index]


@pytest.mark.parametrize("cls", list(DeviceClass))
def test_a_field_has_one_type_across_the_channels_of_a_class(cls: DeviceClass) -> None:
    """InfluxDB refuses a point whose field type differs from what the measurement already holds."""
    seen: dict[str, tuple[str, str]] = {}
    for (c, channel), model in MODELS.items():
        if c is not cls:
            continue
        for name, info in model.model_fields.items():
            if name == "ts" or (kind := _influx_type(info.annotation)) is None:
                continue
            if name in seen:
                assert seen[name][0] == kind, f"{cls}.{name}: {kind} on {channel}, {seen[name]}"
            seen[name] = (kind, channel.value)
