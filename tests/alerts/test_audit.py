"""The audit log: account and silence changes are recorded with who, when, what and from where, in the same
transaction as the change, and operators (only) read them through the API."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import AccountStore
from alerts.api import AlertsApi, install_error_handlers, mount
from alerts.audit import AuditLog, Who
from alerts.service import TicketService
from core.clock import ManualClock
from devices.model import Role

from .fakes import FakeHierarchy

PASSWORD = "correct-horse-42"


async def test_account_and_silence_changes_are_audited_and_read_by_operators(engine: AsyncEngine) -> None:
    clock, h = ManualClock(1_700_000_000.0), FakeHierarchy()
    service = TicketService(engine, lambda: h, clock)
    accounts = AccountStore(engine, clock)
    admin = Who("cli:root", "cli")
    await accounts.create_account("op", PASSWORD, Role.OPERATOR, "S1", "运维", by=admin)
    leader = await accounts.create_account("l1", PASSWORD, Role.MICROGRID_LEADER, "M1", "李强", "p-l1", by=admin)
    app = FastAPI()
    install_error_handlers(app)
    mount(app, AlertsApi(service, accounts, lambda: h))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.5", 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:

        async def login(username: str) -> dict[str, str]:
            r = await c.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
            return {"Authorization": f"Bearer {r.json()['token']}"}

        l1, op = await login("l1"), await login("op")
        body = {"scope_id": "M1", "duration_s": 3600, "comment": "水表更换"}
        s = (await c.post("/api/v1/silences", headers=l1, json=body)).json()
        await c.post(f"/api/v1/silences/{s['id']}/cancel", headers=l1)
        await c.post(f"/api/v1/silences/{s['id']}/cancel", headers=l1)  # already over: nothing changes, no row
        await accounts.disable(leader.id, by=admin)

        assert (await c.get("/api/v1/audit", headers=l1)).status_code == 401  # the disabled leader's session ended
        l2 = await accounts.create_account("l2", PASSWORD, Role.MICROGRID_LEADER, "M2", "刘洋")
        assert (await c.get("/api/v1/audit", headers=await login(l2.username))).status_code == 403
        page = (await c.get("/api/v1/audit", headers=op)).json()
        got = [(e["action"], e["actor"], e["actor_role"], e["source"], e["target"]) for e in page["items"]]
        assert got == [
            ("account.create", "service", None, "service", "l2"),
            ("account.disable", "cli:root", None, "cli", f"account:{leader.id}"),
            ("silence.cancel", "l1", "microgrid_leader", "203.0.113.5", f"silence:{s['id']}"),
            ("silence.create", "l1", "microgrid_leader", "203.0.113.5", f"silence:{s['id']}"),
            ("account.create", "cli:root", None, "cli", "l1"),
            ("account.create", "cli:root", None, "cli", "op"),
        ]
        assert page["items"][3]["details"]["comment"] == "水表更换"
        assert all(e["at"] == clock.now() for e in page["items"])
        silences = (await c.get("/api/v1/audit?action=silence.&limit=1", headers=op)).json()
        assert [e["action"] for e in silences["items"]] == ["silence.cancel"]
        older = await c.get(f"/api/v1/audit?action=silence.&before={silences['next_before']}", headers=op)
        assert [e["action"] for e in older.json()["items"]] == ["silence.create"]
    assert [e.action for e in await AuditLog(engine).list(actor="cli:root")] == [
        "account.disable",
        "account.create",
        "account.create",
    ]
