"""What cwatch accepts in a URL it stores, shows or calls: the scheme, the credentials and the host.

Pure (no DNS, no I/O) and importing nothing of ours: a shared leaf like `core.clock`, used by the device
protocol, the settings, the notification senders and the board's Content-Security-Policy.

- Media URLs a device sends (`snapshot_url`, `clip_url`) are opened by browsers and passed on in webhooks: http(s)
  only, no credentials, and never a host that means "this machine" or "this link" (loopback, link-local such as
  the cloud metadata address 169.254.169.254, unspecified, multicast). A private address (an NVR on the estate's
  LAN) may be stored; whether the board shows it is the media allow-list's decision (`media_allowed`).
- URLs cwatch itself calls (the signed webhook, a contact point of kind webhook, a gateway of a notification
  channel) must not reach the machine or its networks (SSRF): link-local addresses never; loopback, private and
  reserved addresses and the names of this machine unless the operator allows private targets (a relay on the
  host or the LAN).
- Media allow-list entries are CSP host sources (`nvr.example.cn`, `*.cam.example.org`, `https://nvr:8443`,
  `10.2.0.5:*`) and match exactly as browsers match them, so the server's verdict and the browser's agree.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

__all__ = [
    "AllowEntry",
    "address_problem",
    "media_allowed",
    "media_url_problem",
    "outbound_problem",
    "parse_allow_entry",
]

MEDIA_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORT = {"http": 80, "https": 443}
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
# a CSP host-source: optional scheme, host (optionally `*.` + name), optional port (digits or *); nothing else,
# so an entry can never smuggle a quote, a semicolon or a directive into the header
_ENTRY = re.compile(
    r"(?:(?P<scheme>https?)://)?(?P<host>(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(?::(?P<port>\d{1,5}|\*))?"
)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _local_name(host: str) -> bool:
    h = host.lower().rstrip(".")
    return h in _LOCAL_NAMES or h.endswith(".localhost")


def address_problem(host: str, *, allow_private: bool, allow_loopback: bool | None = None) -> str | None:
    """Why cwatch must not connect to `host` (a name or an address, IPv6 in brackets or not), or None.
    Link-local (169.254.169.254 hands out cloud credentials), unspecified and multicast addresses are always
    refused; private and reserved ones unless `allow_private`; this machine (loopback, `localhost`) unless
    `allow_loopback` (default: as `allow_private`). Names are judged by their spelling only; `alerts.outbound`
    resolves them and checks each address too."""
    loopback_ok = allow_private if allow_loopback is None else allow_loopback
    if _local_name(host):
        return None if loopback_ok else f"{host} is this machine"
    ip = _ip(host)
    if ip is None:
        return None
    if ip.is_unspecified:
        return f"{ip} is this machine"
    if ip.is_loopback:
        return None if loopback_ok else f"{ip} is this machine"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if allow_private:
        return None
    if ip.is_private or ip.is_reserved or not ip.is_global:
        return f"{ip} is a private or reserved address"
    return None


def media_url_problem(
    host: str | None, username: str | None, password: str | None, *, allow_loopback: bool = False
) -> str | None:
    """Why a media URL (already parsed as http(s)) is refused, or None: credentials, or a host that is this
    machine, link-local, unspecified or multicast. Private addresses pass (an NVR on the LAN); this machine only
    with `allow_loopback` (the demo's own snapshots)."""
    if username or password:
        return "must not carry credentials (user:password@): they would reach every board and webhook"
    if not host:
        return "needs a host"
    problem = address_problem(host, allow_private=True, allow_loopback=allow_loopback)
    return f"host {problem}" if problem else None


def outbound_problem(url: str, *, allow_private: bool, schemes: frozenset[str] = MEDIA_SCHEMES) -> str | None:
    """Why cwatch must not call `url`, or None: a scheme not in `schemes` (empty: any), no host, a host that is
    this machine or link-local, or (unless `allow_private`) a private or reserved address. Credentials pass (a
    gateway's basic auth); a host that is a `{placeholder}` (an Apprise template) is not judged."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as e:
        return f"not a URL: {e}"
    if schemes and parts.scheme.lower() not in schemes:
        return f"scheme {parts.scheme or '(none)'!r} is not one of {', '.join(sorted(schemes))}"
    if not host:
        return "needs a host"
    if "{" in host or "}" in host:
        return None
    return address_problem(host, allow_private=allow_private)


class AllowEntry:
    """One media allow-list entry, matched as a CSP host-source matches a URL."""

    __slots__ = ("host", "port", "scheme", "source")

    def __init__(self, source: str, scheme: str | None, host: str, port: str | None) -> None:
        self.source = source
        self.scheme = scheme
        self.host = host
        self.port = port

    def matches(self, scheme: str, host: str, port: int | None) -> bool:
        scheme, host = scheme.lower(), host.lower().rstrip(".")
        if self.scheme is not None and not (scheme == self.scheme or (self.scheme == "http" and scheme == "https")):
            return False
        if self.host.startswith("*."):
            if not host.endswith(self.host[1:]):
                return False
        elif host != self.host:
            return False
        effective = port if port is not None else _DEFAULT_PORT.get(scheme)
        if self.port == "*":
            return True
        if self.port is None:
            return effective == _DEFAULT_PORT.get(scheme)
        return effective == int(self.port)


def parse_allow_entry(text: str) -> AllowEntry:
    """An allow-list entry, or ValueError saying what a valid one looks like."""
    source = text.strip().lower()
    m = _ENTRY.fullmatch(source)
    if m is None:
        raise ValueError(
            f"{text!r} is not a host source: give a host (nvr.example.cn), a wildcard (*.cam.example.org), "
            "optionally a scheme (https://...) and a port (:8443 or :*), no path"
        )
    port = m.group("port")
    if port not in (None, "*") and not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: port {port} is out of range")
    return AllowEntry(source, m.group("scheme"), m.group("host"), port)


def media_allowed(url: str, entries: tuple[AllowEntry, ...]) -> bool:
    """Whether the board may show `url`: an http(s) URL whose origin an allow-list entry matches."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme not in MEDIA_SCHEMES or not host:
        return False
    if ":" in host:
        host = f"[{host}]"
    return any(e.matches(scheme, host, port) for e in entries)
