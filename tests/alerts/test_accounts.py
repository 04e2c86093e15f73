"""Accounts: salted scrypt hashes, hashed session tokens with expiry, logout, disable, no defaults."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import AccountStore, hash_password, verify_password
from alerts.errors import AuthError, ConflictError, PasswordPolicyError
from alerts.tables import accounts as accounts_table
from alerts.tables import sessions as sessions_table
from core.clock import ManualClock
from devices.model import Role

PW = "long-enough-password"


def test_hash_is_salted_scrypt_and_verifies() -> None:
    a, b = hash_password(PW, n=2**10), hash_password(PW, n=2**10)
    assert a != b  # salted
    assert a.startswith("scrypt$1024$8$1$")
    assert verify_password(PW, a)
    assert not verify_password(PW + "x", a)
    assert not verify_password(PW, "md5$whatever")
    assert not verify_password(PW, "garbage")


async def test_login_authenticate_expire_logout(engine: AsyncEngine) -> None:
    clock = ManualClock(1_000.0)
    store = AccountStore(engine, clock, session_ttl=600)
    acc = await store.create_account("wang", PW, Role.GRID_WORKER, "M1", "王芳", person_id="p-w1")
    assert (acc.role, acc.scope_id, acc.person_id) == (Role.GRID_WORKER, "M1", "p-w1")
    token, who = await store.login("wang", PW)
    assert who.id == acc.id
    assert (await store.authenticate(token)).username == "wang"
    async with engine.connect() as conn:
        stored_hash = (await conn.execute(select(sessions_table.c.token_hash))).scalar_one()
        pw_hash = (await conn.execute(select(accounts_table.c.password_hash))).scalar_one()
    assert stored_hash == hashlib.sha256(token.encode()).hexdigest()  # only the hash of the token is stored
    assert PW not in pw_hash
    clock.advance(600)
    with pytest.raises(AuthError):
        await store.authenticate(token)
    token2, _ = await store.login("wang", PW)
    await store.logout(token2)
    with pytest.raises(AuthError):
        await store.authenticate(token2)


async def test_wrong_password_unknown_user_and_disabled(engine: AsyncEngine) -> None:
    store = AccountStore(engine, ManualClock(0.0))
    acc = await store.create_account("li", PW, Role.MICROGRID_LEADER, "M1", "李强")
    with pytest.raises(AuthError):
        await store.login("li", "not-the-password")
    with pytest.raises(AuthError):
        await store.login("nobody", PW)
    token, _ = await store.login("li", PW)
    await store.disable(acc.id)
    with pytest.raises(AuthError):
        await store.authenticate(token)
    with pytest.raises(AuthError):
        await store.login("li", PW)
    for bad in (None, "", "x" * 43):
        with pytest.raises(AuthError):
            await store.authenticate(bad)


async def test_password_change_ends_sessions(engine: AsyncEngine) -> None:
    store = AccountStore(engine, ManualClock(0.0))
    acc = await store.create_account("zhao", PW, Role.GRID_WORKER, "M1", "赵磊")
    token, _ = await store.login("zhao", PW)
    await store.set_password(acc.id, "another-long-password")
    with pytest.raises(AuthError):
        await store.authenticate(token)
    await store.login("zhao", "another-long-password")


async def test_policy_duplicates_and_no_default_accounts(engine: AsyncEngine) -> None:
    store = AccountStore(engine, ManualClock(0.0))
    assert await store.list_accounts() == []  # nothing exists until someone creates it
    with pytest.raises(PasswordPolicyError):
        await store.create_account("short", "12345678901", Role.GRID_WORKER, "M1", "x")
    with pytest.raises(PasswordPolicyError):
        await store.create_account("  ", PW, Role.GRID_WORKER, "M1", "x")
    await store.create_account("dup", PW, Role.GRID_WORKER, "M1", "x")
    with pytest.raises(ConflictError):
        await store.create_account("dup", PW, Role.GRID_WORKER, "M2", "y")
    for name in ("admin", "root", "operator"):
        with pytest.raises(AuthError):
            await store.login(name, "admin")
