"""InfluxDB 2.x / 3.x / Cloud sink: `POST /api/v2/write?org=..&bucket=..&precision=ns` with a token.

Built to the documented v2 write API (gzip body, `Authorization: Token`, 204 on success, 400/413/422 for refused
data, 429/503 with `Retry-After`). No InfluxDB 2 can be installed on these machines, so it is tested at the wire
level only (tests/ingest/test_sink_influx_v2.py); InfluxV1Sink works against 2.x and 3.x too, through DBRP.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from devices.reading import Reading
from ingest.sinks.base import SinkUnavailable
from ingest.sinks.http_lines import LineBatchWriter

__all__ = ["InfluxV2Sink"]


class InfluxV2Sink:
    def __init__(
        self,
        url: str,
        org: str,
        bucket: str,
        token: str,
        *,
        gzip: bool = True,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.org = org
        self.bucket = bucket
        headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        self._client = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout_s, transport=transport)
        self._write_headers = {"Content-Type": "text/plain; charset=utf-8"}
        if gzip:
            self._write_headers["Content-Encoding"] = "gzip"
        self._params = {"org": org, "bucket": bucket, "precision": "ns"}
        self._writer = LineBatchWriter(self._post, compress=gzip, what="InfluxDB")

    async def write(self, readings: Sequence[Reading]) -> list[tuple[Reading, str]]:
        return await self._writer.write(readings)

    async def _post(self, body: bytes) -> httpx.Response:
        try:
            return await self._client.post(
                "/api/v2/write", params=self._params, content=body, headers=self._write_headers
            )
        except httpx.HTTPError as e:
            raise SinkUnavailable(f"InfluxDB at {self.url} unreachable: {e!r}") from e

    async def ping(self) -> bool:
        try:
            response = await self._client.get("/ping")
        except httpx.HTTPError:
            return False
        return response.is_success  # 204 on 1.x and 2.x, 200 on 3.x

    async def close(self) -> None:
        await self._client.aclose()
