"""Posting line-protocol batches over HTTP, shared by the InfluxDB v1 and v2 sinks.

One bad point must not cost a whole batch: when the database refuses a batch as malformed (400, 413, 422), the
batch is split in halves recursively, so the good points get stored and only the bad ones come back, each with
the database's message (k bad points in n cost about 2·k·log2(n) extra requests). Re-sending a point that was
already stored by a partial write is harmless: same series and timestamp overwrite.
"""

from __future__ import annotations

import email.utils
import gzip
import time
from collections.abc import Awaitable, Callable, Sequence

import httpx

from devices.reading import Reading
from ingest.lineprotocol import lines
from ingest.sinks.base import SinkUnavailable

MALFORMED = frozenset({400, 413, 422})
_BODY_SNIPPET = 300

Post = Callable[[bytes], Awaitable[httpx.Response]]


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_text(response: httpx.Response) -> str:
    """The database's own words: the `error`/`message` of a JSON body, else the start of the body."""
    try:
        doc = response.json()
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        for key in ("error", "message"):
            if isinstance(doc.get(key), str):
                return str(doc[key])[:_BODY_SNIPPET]
    text = response.text.strip()
    return (text or response.reason_phrase)[:_BODY_SNIPPET]


def encode(points: Sequence[str], *, compress: bool) -> bytes:
    body = "\n".join(points).encode("utf-8")
    return gzip.compress(body, compresslevel=1) if compress else body


class LineBatchWriter:
    """Writes readings through `post(body) -> response`, splitting malformed batches. `post` raises
    SinkUnavailable itself for transport errors; this class raises it for 5xx, 429 and auth/config errors."""

    def __init__(self, post: Post, *, compress: bool, what: str) -> None:
        self._post = post
        self._compress = compress
        self._what = what

    async def write(self, readings: Sequence[Reading]) -> list[tuple[Reading, str]]:
        ok, refused = lines(readings)
        if ok:
            refused.extend(await self._write_split(ok))
        return refused

    async def _write_split(self, pairs: Sequence[tuple[Reading, str]]) -> list[tuple[Reading, str]]:
        response = await self._post(encode([p for _, p in pairs], compress=self._compress))
        status = response.status_code
        if 200 <= status < 300:
            return []
        if status in MALFORMED:
            if len(pairs) == 1:
                return [(pairs[0][0], f"{self._what} refused the point ({status}): {error_text(response)}")]
            mid = len(pairs) // 2
            return await self._write_split(pairs[:mid]) + await self._write_split(pairs[mid:])
        raise SinkUnavailable(
            f"{self._what} answered {status}: {error_text(response)}",
            retry_after=retry_after(response),
        )
