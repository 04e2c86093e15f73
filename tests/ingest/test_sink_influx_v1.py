"""InfluxV1Sink against a real influxd 1.6.7: points are stored and counted with InfluxQL, replays overwrite,
a batch with bad points is split so only those come back, and a stopped server means SinkUnavailable."""

from __future__ import annotations

import base64
import gzip
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from devices.model import DeviceClass
from devices.payloads import Channel
from devices.reading import Reading
from ingest.lineprotocol import line
from ingest.sinks import InfluxQueryError, InfluxV1Sink, SinkUnavailable
from testkit.services import InfluxProcess

pytestmark = pytest.mark.influx

T0 = 1_772_330_000.0
CLASSES = [DeviceClass.SMOKE_DETECTOR, DeviceClass.WATER_METER, DeviceClass.GAS_DETECTOR]


def reading(i: int, **changes: object) -> Reading:
    cls = CLASSES[i % len(CLASSES)]
    r = Reading(
        device_id=f"D-{i % 50:04d}",
        device_class=cls,
        channel=Channel.TELEMETRY,
        ts=T0 + i * 0.001,
        seq=i,
        fields={"value": float(i), "ok": True, "note": f"n{i}"},
        community_id="c1",
        microgrid_id=f"m{i % 5}",
        building_id=f"b{i % 10}",
        household_id=f"h{i % 50}" if cls is not DeviceClass.GAS_DETECTOR else None,
    )
    return replace(r, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def sink(influxd: InfluxProcess) -> AsyncIterator[InfluxV1Sink]:
    s = InfluxV1Sink(influxd.url, "cwatch")
    yield s
    await s.close()


async def count(sink: InfluxV1Sink) -> int:
    rows = await sink.query('SELECT count("seq") FROM /.*/')
    return sum(int(r["count"]) for r in rows)


async def test_points_are_stored_and_replays_overwrite(sink: InfluxV1Sink) -> None:
    batch = [reading(i) for i in range(3000)]
    assert await sink.ping()
    assert await sink.write(batch) == []
    assert await count(sink) == 3000
    assert await sink.write(batch[:1000]) == []  # a replay after a crash: same series and time, no new point
    assert await count(sink) == 3000
    rows = await sink.query("SELECT * FROM water_meter WHERE device = 'D-0001' LIMIT 1")
    assert rows[0]["household"] == "h1"
    assert rows[0]["class"] == "water_meter"
    assert rows[0]["channel"] == "telemetry"
    assert rows[0]["microgrid"] == "m1"
    assert rows[0]["time"] == "2026-03-01T01:53:20.001Z"


async def test_strings_survive_the_round_trip(sink: InfluxV1Sink) -> None:
    text = 'door "north", gate=2 \\ 北门'
    assert await sink.write([reading(1, fields={"door": text, "value": 1.0})]) == []
    rows = await sink.query("SELECT door FROM water_meter")
    assert rows[0]["door"] == text


async def test_bad_points_are_split_out_and_the_rest_stored(sink: InfluxV1Sink) -> None:
    assert await sink.write([reading(0)]) == []  # smoke_detector.value is now a float field
    conflicting = [reading(999, fields={"value": 7})]  # an integer for the same field: InfluxDB refuses it
    unwritable = [reading(1002, fields={"value": float("nan")})]  # refused before it leaves the process
    batch = [reading(i) for i in range(1, 200)] + conflicting + [reading(i) for i in range(200, 400)] + unwritable
    refused = await sink.write(batch)
    assert sorted(r.seq or 0 for r, _ in refused) == [999, 1002]
    reasons = {r.seq: why for r, why in refused}
    assert "conflict" in reasons[999]
    assert "value" in reasons[1002]
    assert await count(sink) == 400  # seq 0..399: every good point of the batch


async def test_stopped_server_means_unavailable_and_recovery_after(influxd: InfluxProcess, sink: InfluxV1Sink) -> None:
    assert await sink.write([reading(1)]) == []
    influxd.stop()
    assert not await sink.ping()
    with pytest.raises(SinkUnavailable):
        await sink.write([reading(2)])
    with pytest.raises(SinkUnavailable):
        await sink.query("SELECT * FROM water_meter")
    influxd.start()
    assert await sink.write([reading(2)]) == []
    assert await count(sink) == 2


async def test_database_is_created_again_when_it_vanishes(influxd: InfluxProcess, sink: InfluxV1Sink) -> None:
    assert await sink.write([reading(1)]) == []
    await sink.query('DROP DATABASE "cwatch"')
    assert await sink.write([reading(2)]) == []
    assert await count(sink) == 1


async def test_query_errors_are_translated(sink: InfluxV1Sink) -> None:
    await sink.create_database()
    with pytest.raises(InfluxQueryError):
        await sink.query("SELEKT nonsense")


async def test_5xx_and_429_honour_retry_after() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/query":
            return httpx.Response(200, json={"results": [{}]})
        return httpx.Response(503, headers={"Retry-After": "7"}, json={"error": "overloaded"})

    s = InfluxV1Sink("http://influx.invalid:8086", "db", transport=httpx.MockTransport(handler))
    with pytest.raises(SinkUnavailable) as info:
        await s.write([reading(1)])
    assert info.value.retry_after == 7.0
    assert "overloaded" in str(info.value)
    await s.close()


async def test_series_grow_with_devices_and_channels_not_with_data(sink: InfluxV1Sink) -> None:
    batch = [
        reading(d, ts=T0 + t * 60, seq=t, channel=channel, fields={"value": float(t)})
        for d in range(30)
        for channel in (Channel.TELEMETRY, Channel.EVENT, Channel.STATUS)
        for t in range(20)
    ]
    assert await sink.write(batch) == []
    series = await sink.query("SHOW SERIES")
    assert len(series) == 30 * 3
    assert await count(sink) == 30 * 3 * 20


_NASTY = st.sampled_from("\\\"\n\r\t ,=\x00'北")


def stored_as(text: str) -> str:
    """What InfluxDB gives back for a string field value we wrote: line breaks travel as the text `\\n`."""
    return text.replace("\n", "\\n").replace("\r", "\\r")


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(
        st.text(alphabet=_NASTY | st.characters(exclude_categories=("Cs",)), max_size=40), min_size=50, max_size=50
    )
)
async def test_any_string_value_survives_the_round_trip(influxd: InfluxProcess, texts: list[str]) -> None:
    sink = InfluxV1Sink(influxd.url, "strings")
    try:
        await sink.create_database()
        await sink.query("DROP SERIES FROM /.*/")
        batch = [reading(i, seq=i, fields={"text": t, "k": i}) for i, t in enumerate(texts)]
        assert await sink.write(batch) == []
        rows = await sink.query("SELECT k, text FROM /.*/")
        assert {int(r["k"]): r["text"] for r in rows} == {i: stored_as(t) for i, t in enumerate(texts)}
    finally:
        await sink.close()


async def test_write_request_shape_with_credentials() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204) if request.url.path == "/write" else httpx.Response(200, json={"results": [{}]})

    s = InfluxV1Sink(
        "http://influx.invalid:8086/", "社区", username="cw", password="pw", transport=httpx.MockTransport(handler)
    )
    assert await s.write([reading(1)]) == []
    create, write = seen
    assert create.url.path == "/query"
    assert b"CREATE+DATABASE" in create.content or b"CREATE%20DATABASE" in create.content
    assert "content-encoding" not in create.headers  # the form body is not compressed
    assert write.url.path == "/write"
    assert dict(write.url.params) == {"db": "社区", "precision": "ns"}
    assert write.headers["authorization"] == "Basic " + base64.b64encode(b"cw:pw").decode()
    assert write.headers["content-encoding"] == "gzip"
    assert gzip.decompress(write.content).decode() == line(reading(1))
    await s.close()


def tag_stored_as(value: str) -> str:
    """What InfluxDB gives back for a tag value we wrote (ids of protocol v1 never need any of this)."""
    out = value.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return out + "_" if out.endswith("\\") else out


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tags=st.lists(st.text(alphabet=_NASTY | st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20),
                     min_size=30, max_size=30, unique=True))  # fmt: skip
async def test_any_tag_value_keeps_the_batch_parseable(influxd: InfluxProcess, tags: list[str]) -> None:
    sink = InfluxV1Sink(influxd.url, "tags")
    try:
        await sink.create_database()
        await sink.query("DROP SERIES FROM /.*/")
        batch = [reading(i, seq=i, building_id=t, fields={"k": i}) for i, t in enumerate(tags)]
        assert await sink.write(batch) == []
        rows = await sink.query("SELECT k, building FROM /.*/")
        assert {int(r["k"]): r["building"] for r in rows} == {i: tag_stored_as(t) for i, t in enumerate(tags)}
    finally:
        await sink.close()
