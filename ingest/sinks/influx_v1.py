"""InfluxDB 1.x sink: `POST /write` with line protocol and InfluxQL `/query`.

This pair is the one API every InfluxDB generation serves (1.x natively, 2.x and 3.x through DBRP mappings), and
the only one testable here (Debian ships influxd 1.6.7). Tested against a real influxd.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from devices.reading import Reading
from ingest.errors import IngestError
from ingest.sinks.base import SinkUnavailable
from ingest.sinks.http_lines import LineBatchWriter, error_text, retry_after

__all__ = ["InfluxQueryError", "InfluxV1Sink"]


class InfluxQueryError(IngestError):
    """An InfluxQL statement failed (bad syntax, unknown database)."""


class InfluxV1Sink:
    """Writes readings to database `database` at `url` (e.g. `http://127.0.0.1:8086`)."""

    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        precision: str = "ns",
        gzip: bool = True,
        create_database: bool = True,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if precision != "ns":
            raise ValueError("line protocol timestamps are written in ns; precision must be 'ns'")
        self.url = url.rstrip("/")
        self.database = database
        self._create = create_database
        self._created = False
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._write_headers = {"Content-Type": "text/plain; charset=utf-8"}
        if gzip:
            self._write_headers["Content-Encoding"] = "gzip"
        self._client = httpx.AsyncClient(base_url=self.url, auth=auth, timeout=timeout_s, transport=transport)
        self._writer = LineBatchWriter(self._post, compress=gzip, what="InfluxDB")

    async def write(self, readings: Sequence[Reading]) -> list[tuple[Reading, str]]:
        if self._create and not self._created:
            await self.create_database()
        return await self._writer.write(readings)

    async def _post(self, body: bytes) -> httpx.Response:
        params = {"db": self.database, "precision": "ns"}
        try:
            response = await self._client.post("/write", params=params, content=body, headers=self._write_headers)
        except httpx.HTTPError as e:
            raise SinkUnavailable(f"InfluxDB at {self.url} unreachable: {e!r}") from e
        if response.status_code == 404 and self._create:
            # The database vanished (dropped, or a fresh server): create it again and retry once.
            await self.create_database()
            try:
                response = await self._client.post("/write", params=params, content=body, headers=self._write_headers)
            except httpx.HTTPError as e:
                raise SinkUnavailable(f"InfluxDB at {self.url} unreachable: {e!r}") from e
        return response

    async def create_database(self) -> None:
        """`CREATE DATABASE` (idempotent in InfluxQL). Raises SinkUnavailable when influxd is unreachable."""
        try:
            response = await self._client.post("/query", data={"q": f'CREATE DATABASE "{_ident(self.database)}"'})
        except httpx.HTTPError as e:
            raise SinkUnavailable(f"InfluxDB at {self.url} unreachable: {e!r}") from e
        if response.status_code >= 300:
            raise SinkUnavailable(
                f"CREATE DATABASE failed ({response.status_code}): {error_text(response)}",
                retry_after=retry_after(response),
            )
        self._created = True

    async def query(self, influxql: str) -> list[dict[str, Any]]:
        """Rows of every series of every statement, as dicts (`name` = measurement, tags merged in)."""
        try:
            response = await self._client.post("/query", params={"db": self.database}, data={"q": influxql})
        except httpx.HTTPError as e:
            raise SinkUnavailable(f"InfluxDB at {self.url} unreachable: {e!r}") from e
        if response.status_code >= 500:
            raise SinkUnavailable(f"InfluxDB answered {response.status_code}: {error_text(response)}")
        try:
            doc = response.json()
        except ValueError as e:
            raise InfluxQueryError(f"not JSON ({response.status_code}): {response.text[:200]}") from e
        if response.status_code >= 300 or "error" in doc:
            raise InfluxQueryError(str(doc.get("error", response.status_code)))
        rows: list[dict[str, Any]] = []
        for result in doc.get("results", []):
            if "error" in result:
                raise InfluxQueryError(str(result["error"]))
            for series in result.get("series", []):
                base = {"name": series.get("name"), **series.get("tags", {})}
                for values in series.get("values", []):
                    rows.append({**base, **dict(zip(series["columns"], values, strict=False))})
        return rows

    async def ping(self) -> bool:
        try:
            response = await self._client.get("/ping")
        except httpx.HTTPError:
            return False
        return response.is_success  # 204 on 1.x and 2.x, 200 on 3.x

    async def close(self) -> None:
        await self._client.aclose()


def _ident(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')
