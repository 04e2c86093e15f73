"""`cwatch broker credentials`: write the broker's password file and ACL from the stored registry (`cwatch.brokerauth`
computes them), and the passwords of new accounts to a file only the operator can read.

Files in the output folder: `cwatch.passwd` and `cwatch.acl` (replaced atomically, mode 0600: copy them where
Mosquitto reads them, see docs/deployment.md), and for a generation that created passwords,
`device-secrets-<UTC time>.csv` (created mode 0600, never overwritten). The previous `cwatch.passwd` there is
what the next generation keeps hashes from. Passwords are never printed or logged.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from core.i18n import tr
from cwatch.brokerauth import Generation, PlacedDevice, accounts_for, generate, parse_password_file
from cwatch.errors import BrokerCredentialsError
from cwatch.settings import Settings
from cwatch.store import open_store
from devices.store import load_registry_db
from devices.topics import ID_PATTERN

PASSWORD_FILE = "cwatch.passwd"
ACL_FILE = "cwatch.acl"
_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True, slots=True)
class Written:
    """What a generation wrote. `generation.new` holds the new passwords: count them, never show them."""

    folder: Path
    generation: Generation
    secrets: Path | None


@dataclass(frozen=True, slots=True)
class _Placed:
    id: str
    community_id: str
    gateway_id: str | None


def ingester_account(settings: Settings) -> tuple[str, str]:
    """The ingester's user name and password, from `mqtt.url`. Raises BrokerCredentialsError naming the key."""
    url = urlsplit(settings.mqtt.url)
    if not settings.mqtt.url or url.username is None or not url.password:
        raise BrokerCredentialsError(
            "mqtt.url has no user name and password: the ingester needs a broker account of its own too "
            "(mqtt://cwatch-ingest:PASSWORD@host:1883)"
        )
    user = unquote(url.username)
    if not _ID.fullmatch(user):
        raise BrokerCredentialsError(f"mqtt.url: user name {user!r} is not an id (letters, digits, _ . -)")
    if user != settings.mqtt.client_id:
        raise BrokerCredentialsError(
            f"mqtt.url user {user!r} differs from mqtt.client_id {settings.mqtt.client_id!r}: the broker "
            "takes the user name as client id (use_username_as_clientid), so make them equal"
        )
    return user, unquote(url.password)  # as the transport logs in (`ingest.transport.options_from_url`)


async def registered_devices(settings: Settings) -> list[PlacedDevice]:
    """Every device of the registry in the store, with its community. Raises BrokerCredentialsError without one."""
    async with open_store(settings) as engine:
        registry = await load_registry_db(engine)
    if registry is None:
        raise BrokerCredentialsError(tr("cli.no_registry"))
    placed: list[PlacedDevice] = []
    for d in registry.devices.values():
        place = registry.placement(d.id)
        if place is not None:
            placed.append(_Placed(d.id, place.community_id, d.gateway_id))
    return placed


def write_broker_credentials(
    settings: Settings,
    folder: Path,
    devices: list[PlacedDevice],
    *,
    rotate: tuple[str, ...] = (),
    gateways: bool = False,
) -> Written:
    """Generate the files for `devices` and the ingester of `settings` into `folder` (created if missing)."""
    user, password = ingester_account(settings)
    folder.mkdir(parents=True, exist_ok=True)
    previous = folder / PASSWORD_FILE
    stored = parse_password_file(previous.read_text(encoding="utf-8"), name=str(previous)) if previous.exists() else {}
    generation = generate(
        accounts_for(devices, ingester=user, gateways=gateways), stored, ingester_password=password, rotate=rotate
    )
    secrets_path = _write_secrets(folder, generation) if generation.new else None
    _replace(folder / PASSWORD_FILE, generation.password_file)
    _replace(folder / ACL_FILE, generation.acl_file)
    return Written(folder, generation, secrets_path)


def _write_secrets(folder: Path, generation: Generation) -> Path:
    """The new passwords, in a file created readable by its owner only (never replaced: O_EXCL)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["username", "password", "kind", "topics"])
    for secret in generation.new:
        a = secret.account
        writer.writerow([a.username, secret.password, a.kind, " ".join(a.topics)])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"device-secrets-{stamp}.csv"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(buffer.getvalue())
        f.flush()
        os.fsync(f.fileno())
    return path


def _replace(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (a temp file in the same folder, fsync, rename), mode 0600."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
