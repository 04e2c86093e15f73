"""InfluxV2Sink at the wire level, against what the InfluxDB v2 API documents for `POST /api/v2/write`:
URL and query (org, bucket, precision=ns), headers (Token auth, gzip, text/plain; charset=utf-8), body (line
protocol, one point per line), status handling (204 ok; 400/413/422 split; 429/503 Retry-After; others
unavailable). No InfluxDB 2 can run here, so this is the only test it gets."""

from __future__ import annotations

import gzip

import httpx
import pytest
from msgspec.structs import replace

from devices.model import DeviceClass
from devices.payloads import Channel
from devices.reading import Reading
from ingest.lineprotocol import line
from ingest.sinks import InfluxV2Sink, SinkUnavailable

R = Reading(
    device_id="WM-0001",
    device_class=DeviceClass.WATER_METER,
    channel=Channel.TELEMETRY,
    ts=1_772_330_000.0,
    seq=1,
    fields={"volume_m3": 12.5},
    community_id="c1",
    microgrid_id="m1",
    building_id="b1",
    household_id="h1",
)


def readings(n: int) -> list[Reading]:
    return [replace(R, seq=i, ts=R.ts + i) for i in range(n)]


class Recorder:
    """A fake InfluxDB 2: records requests; answers `status` for bodies containing a marked point."""

    def __init__(self, bad_seq: set[int] | None = None, status: int = 204, headers: dict[str, str] | None = None):
        self.requests: list[httpx.Request] = []
        self.bodies: list[str] = []
        self.accepted: list[str] = []  # points of the requests answered 204
        self.bad = {f"seq={s}i " for s in bad_seq or set()}
        self.status = status
        self.headers = headers or {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = gzip.decompress(request.content).decode() if request.headers.get("content-encoding") else ""
        self.bodies.append(body)
        if self.status != 204:
            return httpx.Response(self.status, headers=self.headers, json={"code": "x", "message": "busy"})
        for marker in self.bad:
            if marker in body:
                return httpx.Response(
                    400, json={"code": "invalid", "message": f"unable to parse points: {marker.strip()}"}
                )
        self.accepted.extend(body.splitlines())
        return httpx.Response(204)


def sink(recorder: Recorder) -> InfluxV2Sink:
    return InfluxV2Sink(
        "https://influx.example:8086/", "社区-org", "cwatch", "s3cr3t-token", transport=httpx.MockTransport(recorder)
    )


async def test_request_matches_the_documented_api() -> None:
    rec = Recorder()
    s = sink(rec)
    batch = readings(3)
    assert await s.write(batch) == []
    (req,) = rec.requests
    assert req.method == "POST"
    assert req.url.scheme == "https"
    assert req.url.host == "influx.example"
    assert req.url.port == 8086
    assert req.url.path == "/api/v2/write"
    assert dict(req.url.params) == {"org": "社区-org", "bucket": "cwatch", "precision": "ns"}
    assert req.headers["authorization"] == "Token s3cr3t-token"
    assert req.headers["content-encoding"] == "gzip"
    assert req.headers["content-type"] == "text/plain; charset=utf-8"
    assert req.headers["accept"] == "application/json"
    assert rec.bodies[0] == "\n".join(line(r) for r in batch)
    await s.close()


async def test_a_malformed_point_is_isolated_by_splitting() -> None:
    rec = Recorder(bad_seq={13})
    s = sink(rec)
    refused = await s.write(readings(40))
    assert [r.seq for r, _ in refused] == [13]
    assert "unable to parse" in refused[0][1]
    assert len(rec.accepted) == 39  # every other point was accepted, once
    assert sorted(rec.accepted) == sorted(line(r) for r in readings(40) if r.seq != 13)
    assert len(rec.requests) <= 1 + 2 * 6  # log2(40) levels of halving
    await s.close()


@pytest.mark.parametrize(("status", "retry"), [(429, "30"), (503, "2"), (500, None), (401, None), (404, None)])
async def test_unavailable_statuses_keep_the_batch(status: int, retry: str | None) -> None:
    rec = Recorder(status=status, headers={"Retry-After": retry} if retry else {})
    s = sink(rec)
    with pytest.raises(SinkUnavailable) as info:
        await s.write(readings(5))
    assert info.value.retry_after == (float(retry) if retry else None)
    assert len(rec.requests) == 1  # no splitting: the batch is retried whole later
    await s.close()


async def test_connection_errors_are_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    s = InfluxV2Sink("http://127.0.0.1:1", "o", "b", "t", transport=httpx.MockTransport(refuse))
    with pytest.raises(SinkUnavailable):
        await s.write(readings(1))
    assert not await s.ping()
    await s.close()


async def test_gzip_off_sends_plain_line_protocol() -> None:
    requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(204)

    s = InfluxV2Sink(
        "https://influx.example:8086", "org", "cwatch", "t", gzip=False, transport=httpx.MockTransport(record)
    )
    batch = readings(2)
    assert await s.write(batch) == []
    (req,) = requests
    assert "content-encoding" not in req.headers
    assert req.content.decode() == "\n".join(line(r) for r in batch)
    await s.close()
