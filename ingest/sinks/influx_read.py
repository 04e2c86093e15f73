"""Reading telemetry back from InfluxDB with InfluxQL (`GET /query`), the read API every InfluxDB generation
serves: 1.x natively (user and password), 2.x and 3.x through the DBRP mapping of the bucket (a token). The
read seam beside the sinks' write one (`ingest.sinks.base.TelemetryReader`). Tested against a real influxd 1.6.

A query names one measurement (the device's class), one device (the `device` tag) and a time range in
nanoseconds; identifiers are double-quoted and the device id single-quoted with InfluxQL's escapes, so no value
can change the statement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from ingest.sinks.base import Point, SinkUnavailable
from ingest.sinks.http_lines import error_text

__all__ = ["InfluxQLReader"]


class InfluxQLReader:
    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        auth = httpx.BasicAuth(username, password or "") if username else None
        headers = {"Authorization": f"Token {token}"} if token else {}
        self._client = httpx.AsyncClient(
            base_url=self.url, auth=auth, headers=headers, timeout=timeout_s, transport=transport
        )

    async def values(
        self,
        measurement: str,
        device_id: str,
        fields: Sequence[str],
        start: float,
        end: float,
        *,
        limit: int = 20_000,
    ) -> list[Point]:
        """`TelemetryReader.values`."""
        if not fields:
            return []
        columns = ", ".join(_ident(f) for f in fields)
        q = (
            f'SELECT {columns} FROM {_ident(measurement)} WHERE "device" = {_literal(device_id)} '
            f"AND time >= {int(start * 1e9)} AND time < {int(end * 1e9)} ORDER BY time ASC LIMIT {int(limit)}"
        )
        try:
            response = await self._client.get("/query", params={"db": self.database, "q": q, "epoch": "ms"})
        except httpx.HTTPError as e:
            raise SinkUnavailable(f"InfluxDB at {self.url} unreachable: {e!r}") from e
        if response.status_code >= 300:
            raise SinkUnavailable(f"InfluxDB query answered {response.status_code}: {error_text(response)}")
        try:
            doc: dict[str, Any] = response.json()
        except ValueError as e:
            raise SinkUnavailable(f"InfluxDB answered something other than JSON: {response.text[:200]}") from e
        out: list[Point] = []
        for result in doc.get("results", []):
            if "error" in result:
                raise SinkUnavailable(f"InfluxDB query failed: {result['error']}")
            for series in result.get("series", []):
                columns_ = series.get("columns", [])
                for values in series.get("values", []):
                    row = dict(zip(columns_, values, strict=False))
                    numbers = {f: _number(row.get(f)) for f in fields}
                    kept = {k: v for k, v in numbers.items() if v is not None}
                    if kept:
                        out.append((float(row["time"]) / 1000, kept))
        out.sort(key=lambda p: p[0])
        return out

    async def close(self) -> None:
        await self._client.aclose()


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, int | float):
        return float(v)
    return None


def _ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
