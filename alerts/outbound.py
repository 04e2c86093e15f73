"""The check every URL cwatch posts to passes first (server-side request forgery): the signed webhook and a
contact point of kind webhook must not reach this machine, its link (169.254.169.254 hands out cloud
credentials) or, unless the operator allows private targets, the private networks around it.

The literal host is judged by `core.urls.outbound_problem`; a name is resolved and every address it resolves to
is judged too, right before the request. (A name that resolves differently a moment later, DNS rebinding, is not
caught: this bounds mistakes and planted contact points, it is not a firewall.)"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from alerts.errors import DeliveryError, UndeliverableError
from core.urls import address_problem, outbound_problem

Resolve = Callable[[str, int], Awaitable[list[str]]]


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (the system resolver, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


class OutboundGuard:
    """`await guard.check(url)` raises `UndeliverableError` (no retry can help) for a URL cwatch must not call,
    and `DeliveryError` (retried) when its name does not resolve now."""

    def __init__(self, *, allow_private: bool = False, resolve: Resolve = resolve_host) -> None:
        self.allow_private = allow_private
        self._resolve = resolve

    async def check(self, url: str) -> None:
        problem = outbound_problem(url, allow_private=self.allow_private)
        if problem is not None:
            raise UndeliverableError(f"refused to call {_origin(url)}: {problem}")
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            addresses = await self._resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
        except OSError as e:
            raise DeliveryError(f"{_origin(url)}: cannot resolve {host}: {e}") from e
        for address in addresses:
            problem = address_problem(address, allow_private=self.allow_private)
            if problem is not None:
                raise UndeliverableError(f"refused to call {_origin(url)}: {host} resolves to {address} ({problem})")


def _origin(url: str) -> str:
    """Scheme and host of `url` only: paths and queries of webhooks often hold tokens."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}" if parts.hostname else "the URL"
    except ValueError:
        return "the URL"
