"""Broker accounts for devices: a Mosquitto password file and ACL computed from the registry (pure logic).

Every device gets an account of its own: user name = device id, a random password, and write access to its own
topics `cw/{community}/{device}/+` and nothing else. It reads nothing, so a device that subscribes to `#` gets no
message; it cannot publish as another device, outside `cw/`, or to a topic of the wrong depth (the broker answers
MQTT 5 clients with reason code 0x87, "Not authorized"). With `gateways`, every gateway id the registry names
gets an account that writes the topics of exactly the devices reporting through it. The ingester's account reads
and writes `cw/#` (it writes only to delete retained messages, see `ingest.transport`). Mosquitto runs with
`use_username_as_clientid true`, so a device cannot take the ingester's client id, and with it its session.

A new generation keeps the stored hash of every account that is still there (passwords are generated once, for new
accounts and those asked to rotate), drops the accounts of devices gone from the registry, and hashes the
ingester's password from its settings. Hashes are what Mosquitto 2 and `mosquitto_passwd` write:
`$7$<iterations>$<salt>$<hash>`, PBKDF2-HMAC-SHA512 with a 12-byte salt, salt and 64-byte hash in base64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from cwatch.errors import BrokerCredentialsError
from devices.topics import PREFIX

PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default in Mosquitto 2.0; passwords here are 192-bit random strings
SALT_BYTES = 12
PASSWORD_BYTES = 24  # 32 URL-safe characters


class PlacedDevice(Protocol):
    """What the generator needs of a device: its id, its community and the gateway it reports through."""

    @property
    def id(self) -> str: ...
    @property
    def community_id(self) -> str: ...
    @property
    def gateway_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Account:
    """One broker user: `topics` it may write (`readwrite`: and read)."""

    username: str
    kind: Literal["device", "gateway", "ingester"]
    topics: tuple[str, ...]
    access: Literal["write", "readwrite"] = "write"


@dataclass(frozen=True, slots=True)
class NewSecret:
    """A generated password, to be handed to whoever installs the device (written once, never logged)."""

    account: Account
    password: str


@dataclass(frozen=True, slots=True)
class Generation:
    """The files of one generation and what changed since the previous one."""

    password_file: str
    acl_file: str
    new: list[NewSecret] = field(default_factory=list)
    kept: int = 0
    removed: list[str] = field(default_factory=list)


def hash_password(password: str, salt: bytes, iterations: int = PBKDF2_ITERATIONS) -> str:
    """`password` as Mosquitto 2's password file stores it (`$7$...`)."""
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `stored` (a `$7$` hash) is the hash of `password`."""
    parts = stored.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        return False
    try:
        salt, digest = base64.b64decode(parts[3], validate=True), base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(parts[2])), digest)


def parse_password_file(text: str, *, name: str = "password file") -> dict[str, str]:
    """`user:hash` lines (blank lines and `#` comments allowed) as {user: hash}. Raises BrokerCredentialsError
    naming the line of anything else, so that a file edited by hand is not silently rewritten without it."""
    users: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        user, colon, stored = line.partition(":")
        if not colon or not user or not stored.startswith("$7$"):
            raise BrokerCredentialsError(f"{name}:{number}: not a `user:$7$...` line (PBKDF2-SHA512, Mosquitto 2)")
        if user in users:
            raise BrokerCredentialsError(f"{name}:{number}: user {user!r} is there twice")
        users[user] = stored
    return users


def accounts_for(devices: Iterable[PlacedDevice], *, ingester: str, gateways: bool = False) -> list[Account]:
    """The accounts a registry's devices (and, with `gateways`, their gateways) and the ingester need.
    Raises BrokerCredentialsError when two of them would share a user name."""
    devices = sorted(devices, key=lambda d: d.id)
    accounts = [Account(ingester, "ingester", (f"{PREFIX}/#",), "readwrite")]
    accounts += [Account(d.id, "device", (_topics_of(d),)) for d in devices]
    if gateways:
        through: dict[str, list[str]] = {}
        for d in devices:
            if d.gateway_id is not None:
                through.setdefault(d.gateway_id, []).append(_topics_of(d))
        accounts += [Account(g, "gateway", tuple(topics)) for g, topics in sorted(through.items())]
    seen: dict[str, Account] = {}
    for a in accounts:
        if a.username in seen:
            raise BrokerCredentialsError(
                f"{a.kind} {a.username!r} and {seen[a.username].kind} {a.username!r} would share one broker account;"
                " rename one of them"
            )
        seen[a.username] = a
    return accounts


def generate(
    accounts: list[Account],
    stored: Mapping[str, str],
    *,
    ingester_password: str,
    rotate: Iterable[str] = (),
    new_password: Callable[[], str] = lambda: secrets.token_urlsafe(PASSWORD_BYTES),
    new_salt: Callable[[], bytes] = lambda: secrets.token_bytes(SALT_BYTES),
) -> Generation:
    """The password file and ACL for `accounts`, keeping the `stored` hashes of accounts that remain (except
    those in `rotate`). Raises BrokerCredentialsError for a `rotate` name that is no account."""
    rotate = set(rotate)
    unknown = rotate - {a.username for a in accounts}
    if unknown:
        raise BrokerCredentialsError(f"cannot rotate {', '.join(sorted(unknown))}: no such device or gateway account")
    lines: list[str] = []
    new: list[NewSecret] = []
    kept = 0
    for a in accounts:
        old = stored.get(a.username)
        if a.kind == "ingester":
            if old is not None and verify_password(ingester_password, old):
                kept += 1
            else:
                old = hash_password(ingester_password, new_salt())
        elif old is not None and a.username not in rotate:
            kept += 1
        else:
            password = new_password()
            new.append(NewSecret(a, password))
            old = hash_password(password, new_salt())
        lines.append(f"{a.username}:{old}")
    current = {a.username for a in accounts}
    removed = sorted(u for u in stored if u not in current)
    return Generation("\n".join(lines) + "\n", _acl(accounts), new, kept, removed)


def _topics_of(d: PlacedDevice) -> str:
    return f"{PREFIX}/{d.community_id}/{d.id}/+"


def _acl(accounts: list[Account]) -> str:
    out = [
        "# Generated by `cwatch broker credentials` from the registry; the next generation overwrites it.",
        "# Nothing is allowed that is not listed: devices write their own topics only, only the ingester reads.",
    ]
    for a in accounts:
        out += ["", f"user {a.username}", *(f"topic {a.access} {t}" for t in a.topics)]
    return "\n".join(out) + "\n"
