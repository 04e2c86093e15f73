"""Accounts through the API, for operators: the same rules as the CLI (password length, scope level, the linked
person's role and scope), audited with the operator and address; other roles are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import AccountStore
from alerts.api import AlertsApi, install_error_handlers, mount
from alerts.audit import AuditLog
from alerts.service import TicketService
from core.clock import ManualClock
from devices.model import Role
from tests.devices.factory import tiny

PASSWORD = "correct-horse-42"


@pytest.fixture
async def client(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    reg = tiny()
    clock = ManualClock(50_000.0)
    accounts = AccountStore(engine, clock)
    await accounts.create_account("op", PASSWORD, Role.OPERATOR, "st", "运维")
    await accounts.create_account("l1", PASSWORD, Role.MICROGRID_LEADER, "m1", "孙磊", "p-l1")
    app = FastAPI()
    install_error_handlers(app)
    mount(app, AlertsApi(TicketService(engine, lambda: reg, clock), accounts, lambda: reg))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    r = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def test_operators_manage_accounts_by_the_one_rule(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    op = await login(client, "op")
    leader = await login(client, "l1")
    assert (await client.get("/api/v1/accounts", headers=leader)).status_code == 403
    new = {"username": "zj", "password": "twelve-chars", "person_id": "p-w1"}
    r = await client.post("/api/v1/accounts", json={**new, "password": "eleven-char"}, headers=op)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "weak_password")
    r = await client.post(
        "/api/v1/accounts",
        json={"username": "x", "password": "twelve-chars", "role": "microgrid_leader", "scope_id": "c1"},
        headers=op,
    )
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_scope")
    r = await client.post("/api/v1/accounts", json={**new, "role": "street_duty"}, headers=op)
    assert r.status_code == 422
    r = await client.post("/api/v1/accounts", json=new, headers=op)
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["person_id"], made["role"], made["scope_id"], made["display_name"]) == (
        "p-w1",
        "grid_worker",
        "m1",
        "周杰",
    )
    worker = await login(client, "zj", "twelve-chars")
    r = await client.post(f"/api/v1/accounts/{made['id']}/password", json={"password": "another-long-one"}, headers=op)
    assert r.status_code == 200
    assert (await client.get("/api/v1/me", headers=worker)).status_code == 401  # sessions ended
    assert (await client.post(f"/api/v1/accounts/{made['id']}/disable", headers=op)).status_code == 200
    assert (await client.post("/api/v1/accounts/9999/disable", headers=op)).status_code == 404
    listed = {a["username"]: a for a in (await client.get("/api/v1/accounts", headers=op)).json()}
    assert listed["zj"]["disabled"] is True
    entries = await AuditLog(engine).list(action="account.")
    assert [(e.action, e.actor) for e in entries[:3]] == [
        ("account.disable", "op"),
        ("account.password", "op"),
        ("account.create", "op"),
    ]
