"""Accounts and sessions for the board and the API.

Passwords are hashed with salted scrypt (stdlib `hashlib.scrypt`, parameters stored with the hash so they can
be raised later); sessions are random tokens of which only the SHA-256 is stored, so a leaked database holds no
usable token. No account and no password exist by default: the wiring creates demo accounts in demo mode only.
Session expiry uses its own clock (the wall clock by default), not the simulation's virtual clock."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.audit import Who, record
from alerts.dbguard import translated
from alerts.errors import AuthError, ConflictError, NotFoundError, PasswordPolicyError, ScopeLevelError
from alerts.model import Account
from alerts.tables import accounts, sessions
from core.clock import Clock, SystemClock
from core.db import begin_write
from core.i18n import tr
from devices.model import Level, Role

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSWORD = 12
"""One password rule everywhere (CLI, API, store): at least 12 characters, as OWASP ASVS V2.1.1 asks."""

#: The levels of the grid each role may be scoped to: a leader or a worker answers for a micro-grid (a worker
#: may cover a whole grid), duty officers for their community (or a grid of it) or the street, operators for the
#: street or a community.
SCOPE_LEVELS: dict[Role, frozenset[Level]] = {
    Role.GRID_WORKER: frozenset({Level.MICROGRID, Level.GRID}),
    Role.MICROGRID_LEADER: frozenset({Level.MICROGRID}),
    Role.COMMUNITY_DUTY: frozenset({Level.COMMUNITY, Level.GRID}),
    Role.STREET_DUTY: frozenset({Level.STREET}),
    Role.OPERATOR: frozenset({Level.STREET, Level.COMMUNITY}),
}


def check_scope(role: Role, scope_id: str, level: Level | None) -> None:
    """Refuse a scope that is not a node of the grid, or not at a level the role answers for. Pure."""
    if level is None:
        raise ScopeLevelError(tr("errors.scope_unknown", scope=scope_id))
    allowed = SCOPE_LEVELS[role]
    if level not in allowed:
        names = [tr(f"names.level.{lv.value}") for lv in sorted(allowed)]
        levels = names[0] if len(names) == 1 else tr("errors.levels_or", a=names[0], b=names[1])
        raise ScopeLevelError(
            tr(
                "errors.scope_wrong_level",
                role=tr(f"names.role.{role.value}"),
                levels=levels,
                scope=scope_id,
                level=tr(f"names.level.{level.value}"),
            )
        )


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise PasswordPolicyError(tr("errors.password_too_short", min=MIN_PASSWORD))


DEFAULT_SESSION_TTL = 12 * 3600.0  # one duty shift
SERVICE = Who("service", "service")  # a change the service makes itself (demo accounts)


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def normalise_username(username: str) -> str:
    """The username as accounts are created and looked up: surrounding spaces trimmed, case kept (the lookup
    compares exactly). The login throttle counts under the same name."""
    return username.strip()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Verified against when the username is unknown, so a login takes as long whether or not the user exists.
_DUMMY_HASH = hash_password(secrets.token_hex(16))


def _row_to_account(r: Row[Any]) -> Account:
    m = r._mapping
    return Account(
        id=m["id"],
        username=m["username"],
        role=Role(m["role"]),
        scope_id=m["scope_id"],
        display_name=m["display_name"],
        person_id=m["person_id"],
        disabled=bool(m["disabled"]),
    )


class AccountStore:
    def __init__(self, engine: AsyncEngine, clock: Clock | None = None, session_ttl: float = DEFAULT_SESSION_TTL):
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self.session_ttl = session_ttl

    async def create_account(
        self,
        username: str,
        password: str,
        role: Role,
        scope_id: str,
        display_name: str,
        person_id: str | None = None,
        *,
        by: Who | None = None,
    ) -> Account:
        """A new account, audited as `account.create` by `by` (default: the service itself)."""
        username = normalise_username(username)
        if not username:
            raise PasswordPolicyError(tr("errors.username_empty"))
        check_password(password)
        hashed = await asyncio.to_thread(hash_password, password)
        try:
            async with translated(), begin_write(self.engine) as conn:
                res = await conn.execute(
                    accounts.insert()
                    .values(
                        username=username,
                        password_hash=hashed,
                        role=Role(role).value,
                        scope_id=scope_id,
                        display_name=display_name,
                        person_id=person_id,
                        disabled=False,
                        created_at=self.clock.now(),
                    )
                    .returning(*accounts.c)
                )
                created = _row_to_account(res.one())
                details = {"role": created.role.value, "scope_id": scope_id, "display_name": display_name}
                if person_id:
                    details["person_id"] = person_id
                await record(conn, by or SERVICE, "account.create", created.username, self.clock.now(), details)
                return created
        except IntegrityError as e:
            raise ConflictError(tr("errors.username_taken", username=username)) from e

    async def get(self, account_id: int) -> Account | None:
        async with translated(), self.engine.connect() as conn:
            row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).first()
            return None if row is None else _row_to_account(row)

    async def by_username(self, username: str) -> Account | None:
        async with translated(), self.engine.connect() as conn:
            row = (
                await conn.execute(select(accounts).where(accounts.c.username == normalise_username(username)))
            ).first()
            return None if row is None else _row_to_account(row)

    async def display_names(self, usernames: Iterable[str]) -> dict[str, str]:
        """username -> display name of these accounts (the ones that exist): names for a timeline's actors."""
        wanted = sorted(set(usernames))
        if not wanted:
            return {}
        q = select(accounts.c.username, accounts.c.display_name).where(accounts.c.username.in_(wanted))
        async with translated(), self.engine.connect() as conn:
            return {r.username: r.display_name for r in await conn.execute(q) if r.display_name}

    async def username_of_person(self, person_id: str) -> str | None:
        """The username of the (first, enabled) account linked to a registry person, if any."""
        q = (
            select(accounts.c.username)
            .where(accounts.c.person_id == person_id, ~accounts.c.disabled)
            .order_by(accounts.c.id)
            .limit(1)
        )
        async with translated(), self.engine.connect() as conn:
            name: str | None = (await conn.execute(q)).scalar_one_or_none()
            return name

    async def list_accounts(self) -> list[Account]:
        async with translated(), self.engine.connect() as conn:
            return [_row_to_account(r) for r in await conn.execute(select(accounts).order_by(accounts.c.id))]

    async def set_password(self, account_id: int, password: str, *, by: Who | None = None) -> None:
        check_password(password)
        hashed = await asyncio.to_thread(hash_password, password)
        async with translated(), begin_write(self.engine) as conn:
            res = await conn.execute(update(accounts).where(accounts.c.id == account_id).values(password_hash=hashed))
            if res.rowcount != 1:
                raise NotFoundError(tr("errors.account_not_found", id=account_id))
            await conn.execute(delete(sessions).where(sessions.c.account_id == account_id))
            await record(conn, by or SERVICE, "account.password", f"account:{account_id}", self.clock.now())

    async def disable(self, account_id: int, *, by: Who | None = None) -> None:
        async with translated(), begin_write(self.engine) as conn:
            res = await conn.execute(update(accounts).where(accounts.c.id == account_id).values(disabled=True))
            if res.rowcount != 1:
                raise NotFoundError(tr("errors.account_not_found", id=account_id))
            await conn.execute(delete(sessions).where(sessions.c.account_id == account_id))
            await record(conn, by or SERVICE, "account.disable", f"account:{account_id}", self.clock.now())

    async def login(self, username: str, password: str) -> tuple[str, Account]:
        """A new session token for valid credentials; `AuthError` otherwise (same message either way)."""
        async with translated(), self.engine.connect() as conn:
            row = (
                await conn.execute(select(accounts).where(accounts.c.username == normalise_username(username)))
            ).first()
        stored = row._mapping["password_hash"] if row is not None else _DUMMY_HASH
        ok = await asyncio.to_thread(verify_password, password, stored)
        if row is None or not ok or row._mapping["disabled"]:
            raise AuthError(tr("errors.wrong_password"))
        account = _row_to_account(row)
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        async with translated(), begin_write(self.engine) as conn:
            await conn.execute(delete(sessions).where(sessions.c.expires_at <= now))
            await conn.execute(
                sessions.insert().values(
                    token_hash=token_hash(token),
                    account_id=account.id,
                    created_at=now,
                    expires_at=now + self.session_ttl,
                )
            )
        return token, account

    async def logout(self, token: str) -> None:
        async with translated(), begin_write(self.engine) as conn:
            await conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash(token)))

    async def authenticate(self, token: str | None) -> Account:
        """The account of a live session token; `AuthError` for a missing, unknown or expired one."""
        if not token:
            raise AuthError(tr("errors.not_logged_in"))
        q = (
            select(accounts, sessions.c.expires_at)
            .join(sessions, sessions.c.account_id == accounts.c.id)
            .where(sessions.c.token_hash == token_hash(token))
        )
        async with translated(), self.engine.connect() as conn:
            row = (await conn.execute(q)).first()
        if row is None or row._mapping["expires_at"] <= self.clock.now() or row._mapping["disabled"]:
            raise AuthError(tr("errors.session_expired"))
        return _row_to_account(row)
