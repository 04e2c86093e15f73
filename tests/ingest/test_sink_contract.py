"""One contract, every sink: what the drainer relies on holds for SQLite, InfluxDB v1 (real influxd) and
InfluxDB v2 (a fake server that keeps points the way InfluxDB does: one per series and time)."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from msgspec.structs import replace

import ingest.sinks
from core.clock import ManualClock
from devices.model import DeviceClass
from devices.payloads import Channel
from devices.reading import Reading
from ingest.sinks import InfluxV1Sink, InfluxV2Sink, SinkUnavailable, SqliteTelemetrySink, TelemetrySink

T0 = 1_772_330_000.0


def reading(i: int, **changes: object) -> Reading:
    r = Reading(
        device_id=f"GD-{i % 7:04d}",
        device_class=DeviceClass.GAS_DETECTOR,
        channel=Channel.TELEMETRY,
        ts=T0 + i,
        seq=i,
        fields={"gas_lel_pct": 1.5, "co_ppm": 3.0, "valve": "open"},
        community_id="c1",
        microgrid_id="m1",
        building_id="b1",
        household_id="h1",
    )
    return replace(r, **changes)  # type: ignore[arg-type]


class FakeInflux2:
    """Keeps points by (series, time) like InfluxDB; unreachable while `down`."""

    def __init__(self) -> None:
        self.points: dict[tuple[str, str], str] = {}
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("down", request=request)
        if request.url.path == "/ping":
            return httpx.Response(204)
        body = gzip.decompress(request.content).decode()
        for ln in body.splitlines():
            series, fields, ts = ln.rsplit(" ", 2)
            self.points[(series, ts)] = fields
        return httpx.Response(204)


@dataclass
class Subject:
    sink: TelemetrySink
    stored: Callable[[], Awaitable[int]]
    stop: Callable[[], None]
    start: Callable[[], None]


@pytest.fixture(params=["sqlite", "influx_v1", "influx_v2"])
async def subject(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Subject]:
    if request.param == "sqlite":
        sqlite = SqliteTelemetrySink(tmp_path / "telemetry.db", retention_s=365 * 86_400, clock=ManualClock(T0))
        yield Subject(sqlite, sqlite.count, lambda: None, lambda: None)
        await sqlite.close()
        return
    if request.param == "influx_v1":
        request.applymarker(pytest.mark.influx)
        influxd = request.getfixturevalue("influxd")
        v1 = InfluxV1Sink(influxd.url, "contract")

        async def count_v1() -> int:
            rows = await v1.query('SELECT count("seq") FROM /.*/')
            return sum(int(r["count"]) for r in rows)

        yield Subject(v1, count_v1, influxd.stop, influxd.start)
        await v1.close()
        return
    fake = FakeInflux2()
    v2 = InfluxV2Sink("http://influx.test:8086", "org", "bucket", "token", transport=httpx.MockTransport(fake))

    async def count_v2() -> int:
        return len(fake.points)

    def down() -> None:
        fake.down = True

    def up() -> None:
        fake.down = False

    yield Subject(v2, count_v2, down, up)
    await v2.close()


def test_public_surface() -> None:
    assert sorted(ingest.sinks.__all__) == [
        "InfluxQueryError",
        "InfluxV1Sink",
        "InfluxV2Sink",
        "SinkUnavailable",
        "SqliteTelemetrySink",
        "TelemetrySink",
    ]


async def test_stores_and_replays_idempotently(subject: Subject) -> None:
    assert isinstance(subject.sink, TelemetrySink)
    assert await subject.sink.ping()
    batch = [reading(i) for i in range(500)]
    assert await subject.sink.write(batch) == []
    assert await subject.sink.write(batch[100:300]) == []
    assert await subject.stored() == 500
    assert await subject.sink.write([]) == []


async def test_returns_only_the_points_it_cannot_store(subject: Subject) -> None:
    assert await subject.sink.write([reading(0)]) == []
    nan = reading(1, fields={"gas_lel_pct": float("nan")})
    batch = [reading(i) for i in range(2, 60)] + [nan]
    refused = await subject.sink.write(batch)
    assert [r for r, _ in refused] == [nan]
    assert all(why for _, why in refused)
    assert await subject.stored() == 59


async def test_unreachable_database_raises_sink_unavailable(subject: Subject) -> None:
    if isinstance(subject.sink, SqliteTelemetrySink):
        pytest.skip("an embedded file has no server to lose")
    assert await subject.sink.write([reading(0)]) == []
    subject.stop()
    assert not await subject.sink.ping()
    with pytest.raises(SinkUnavailable):
        await subject.sink.write([reading(1)])
    subject.start()
    assert await subject.sink.write([reading(1)]) == []
    assert await subject.stored() == 2
