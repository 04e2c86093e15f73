"""The /api/v1 router through HTTP (ASGI in-process): auth, scoping (404 not 403), actions, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from msgspec.structs import replace
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import AccountStore
from alerts.api import AlertsApi, install_error_handlers, mount
from alerts.service import TicketService
from alerts.stream import ChangeHub
from core.clock import ManualClock
from devices.model import Role
from rules.alert import Severity

from .fakes import FakeHierarchy, alert

PASSWORD = "correct-horse-42"


class Env:
    def __init__(self, client: httpx.AsyncClient, service: TicketService, accounts: AccountStore, clock: ManualClock):
        self.client = client
        self.service = service
        self.accounts = accounts
        self.clock = clock

    async def login(self, username: str) -> dict[str, str]:
        r = await self.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture
async def env(engine: AsyncEngine) -> AsyncIterator[Env]:
    clock = ManualClock(50_000.0)
    hierarchy = FakeHierarchy()
    hub = ChangeHub()
    service = TicketService(engine, lambda: hierarchy, clock, hub)
    accounts = AccountStore(engine, clock, session_ttl=3600)
    for username, role, scope, person in [
        ("w1", Role.GRID_WORKER, "M1", "p-w1"),
        ("w2", Role.GRID_WORKER, "M2", "p-w2"),
        ("l1", Role.MICROGRID_LEADER, "M1", "p-l1"),
        ("c1", Role.COMMUNITY_DUTY, "C1", "p-c1"),
    ]:
        await accounts.create_account(username, PASSWORD, role, scope, username.upper(), person)
    app = FastAPI()
    install_error_handlers(app)
    mount(app, AlertsApi(service, accounts, lambda: hierarchy, hub))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Env(client, service, accounts, clock)


def error_code(r: httpx.Response) -> str:
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["message"]
    code: str = body["error"]["code"]
    return code


async def test_login_sets_strict_httponly_cookie_and_cookie_auth_works(env: Env) -> None:
    r = await env.client.post("/api/v1/auth/login", json={"username": "w1", "password": PASSWORD})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert r.json()["account"]["role"] == "grid_worker"
    me = await env.client.get("/api/v1/me")  # the client keeps the cookie
    assert me.status_code == 200
    assert me.json()["username"] == "w1"
    assert "close" not in me.json()["may"]
    out = await env.client.post("/api/v1/auth/logout")
    assert out.status_code == 204
    assert (await env.client.get("/api/v1/me")).status_code == 401


async def test_bad_credentials_and_missing_token(env: Env) -> None:
    r = await env.client.post("/api/v1/auth/login", json={"username": "w1", "password": "wrong-password"})
    assert r.status_code == 401
    assert error_code(r) == "unauthorized"
    r = await env.client.post("/api/v1/auth/login", json={"username": "nobody", "password": "wrong-password"})
    assert r.status_code == 401
    r = await env.client.get("/api/v1/tickets")
    assert r.status_code == 401
    assert error_code(r) == "unauthorized"
    r = await env.client.get("/api/v1/tickets", headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401


async def test_login_is_throttled_after_repeated_failures(env: Env) -> None:
    for _ in range(5):
        r = await env.client.post("/api/v1/auth/login", json={"username": "w2", "password": "guess-guess"})
        assert r.status_code == 401
    r = await env.client.post("/api/v1/auth/login", json={"username": "w2", "password": PASSWORD})
    assert r.status_code == 429
    assert error_code(r) == "too_many_attempts"


def client_at(env: Env, address: str) -> httpx.AsyncClient:
    """A client of the same app seen as coming from `address`."""
    app = env.client._transport.app  # type: ignore[attr-defined]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://test")


async def test_login_throttle_counts_the_username_as_the_lookup_sees_it(env: Env) -> None:
    """The lookup trims the username: " w2" and "w2" are one account, so their failures are one count (they
    were counted apart, and five spellings gave twenty-five guesses)."""
    for spelling in (" w2", "w2 ", "\tw2", "w2", " w2 "):
        r = await env.client.post("/api/v1/auth/login", json={"username": spelling, "password": "guess-guess"})
        assert r.status_code == 401
    r = await env.client.post("/api/v1/auth/login", json={"username": "  w2", "password": PASSWORD})
    assert r.status_code == 429
    assert error_code(r) == "too_many_attempts"


async def test_login_throttle_delays_grow_and_pass_instead_of_locking_out(env: Env) -> None:
    """A passer-by's five wrong tries cost the rightful user a second, not five minutes; a guesser who keeps on
    waits longer each time."""
    guess = {"username": "w1", "password": "guess-guess"}
    for _ in range(5):
        assert (await env.client.post("/api/v1/auth/login", json=guess)).status_code == 401
    r = await env.client.post("/api/v1/auth/login", json=guess)
    assert (r.status_code, r.headers["retry-after"]) == (429, "1")
    waits = []
    for _ in range(4):
        env.clock.advance(float(r.headers["retry-after"]))
        assert (await env.client.post("/api/v1/auth/login", json=guess)).status_code == 401
        r = await env.client.post("/api/v1/auth/login", json=guess)
        assert r.status_code == 429
        waits.append(int(r.headers["retry-after"]))
    assert waits == [2, 4, 8, 16]
    env.clock.advance(16)
    assert (await env.client.post("/api/v1/auth/login", json={**guess, "password": PASSWORD})).status_code == 200
    # the rightful user's login starts the username's count again
    assert (await env.client.post("/api/v1/auth/login", json=guess)).status_code == 401


async def test_login_throttle_outlives_a_restart(env: Env) -> None:
    for _ in range(5):
        await env.client.post("/api/v1/auth/login", json={"username": "w2", "password": "guess-guess"})
    app = FastAPI()  # another process on the same store
    install_error_handlers(app)
    mount(app, AlertsApi(env.service, AccountStore(env.accounts.engine, env.clock), lambda: FakeHierarchy()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        r = await client.post("/api/v1/auth/login", json={"username": "w2", "password": PASSWORD})
    assert r.status_code == 429


async def test_login_throttle_counts_each_address_across_usernames(env: Env) -> None:
    """One address guessing many usernames waits too; another address is not held up by it."""
    async with client_at(env, "203.0.113.7") as sprayer, client_at(env, "198.51.100.2") as colleague:
        for i in range(10):
            r = await sprayer.post("/api/v1/auth/login", json={"username": f"user{i}", "password": "guess-guess"})
            assert r.status_code == 401
        r = await sprayer.post("/api/v1/auth/login", json={"username": "c1", "password": PASSWORD})
        assert r.status_code == 429
        r = await colleague.post("/api/v1/auth/login", json={"username": "c1", "password": PASSWORD})
        assert r.status_code == 200


async def test_session_expires(env: Env) -> None:
    h = await env.login("w1")
    assert (await env.client.get("/api/v1/me", headers=h)).status_code == 200
    env.clock.advance(3601)
    assert (await env.client.get("/api/v1/me", headers=h)).status_code == 401


async def test_validation_errors_name_the_field(env: Env) -> None:
    r = await env.client.post("/api/v1/auth/login", json={"username": "w1"})
    assert r.status_code == 422
    assert error_code(r) == "validation_error"
    assert "password" in r.json()["error"]["message"]
    h = await env.login("w1")
    r = await env.client.get("/api/v1/tickets?status=bogus", headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"].startswith("status")
    r = await env.client.get("/api/v1/tickets/abc", headers=h)
    assert r.status_code == 422
    r = await env.client.get("/api/v1/tickets?cursor=not-a-cursor", headers=h)
    assert r.status_code == 422
    r = await env.client.get("/api/v1/nothing-here", headers=h)
    assert r.status_code == 404
    assert error_code(r) == "not_found"


async def test_worker_flow_and_scoping(env: Env) -> None:
    [t] = await env.service.apply([alert(microgrid="M1")])
    w1, w2, l1, c1 = [await env.login(u) for u in ("w1", "w2", "l1", "c1")]

    listing = (await env.client.get("/api/v1/tickets", headers=w1)).json()
    assert [i["id"] for i in listing["items"]] == [t.id]
    assert listing["items"][0]["assignee_name"] == "王芳"
    assert "ack" in listing["items"][0]["actions"]
    assert (await env.client.get("/api/v1/tickets", headers=w2)).json()["items"] == []
    assert [i["id"] for i in (await env.client.get("/api/v1/tickets", headers=c1)).json()["items"]] == [t.id]

    # another micro-grid's worker: 404 for reading and for every action, exactly like a missing ticket
    hidden = await env.client.get(f"/api/v1/tickets/{t.id}", headers=w2)
    missing = await env.client.get("/api/v1/tickets/987654", headers=w2)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["code"] == missing.json()["error"]["code"]
    for action in ("ack", "start", "resolve", "close", "reopen", "comment", "assign", "evaluate"):
        r = await env.client.post(
            f"/api/v1/tickets/{t.id}/{action}", headers=w2, json={"note": "x", "assignee_id": "p-w2"}
        )
        assert r.status_code == 404, action

    r = await env.client.post(f"/api/v1/tickets/{t.id}/ack", headers=w1)
    assert r.status_code == 200
    assert r.json()["status"] == "acknowledged"
    r = await env.client.post(f"/api/v1/tickets/{t.id}/ack", headers=w1)
    assert r.status_code == 409
    assert error_code(r) == "invalid_transition"
    r = await env.client.post(f"/api/v1/tickets/{t.id}/resolve", headers=w1, json={})
    assert r.status_code == 422
    assert error_code(r) == "note_required"
    r = await env.client.post(f"/api/v1/tickets/{t.id}/resolve", headers=w1, json={"note": "已到场处置"})
    assert r.json()["status"] == "resolved"
    r = await env.client.post(f"/api/v1/tickets/{t.id}/close", headers=w1)
    assert r.status_code == 403
    assert error_code(r) == "forbidden"
    r = await env.client.post(f"/api/v1/tickets/{t.id}/close", headers=l1, json={"note": "核实完毕"})
    assert r.json()["status"] == "closed"
    r = await env.client.post(f"/api/v1/tickets/{t.id}/evaluate", headers=l1, json={"rating": 6})
    assert r.status_code == 422
    r = await env.client.post(f"/api/v1/tickets/{t.id}/evaluate", headers=l1, json={"rating": 5, "note": "住户满意"})
    assert r.json()["rating"] == 5

    detail = (await env.client.get(f"/api/v1/tickets/{t.id}", headers=w1)).json()
    assert [(e["actor"], e["action"]) for e in detail["timeline"]] == [
        ("system", "raise"),
        ("w1", "ack"),
        ("w1", "resolve"),
        ("l1", "close"),
        ("l1", "evaluate"),
    ]


async def test_assign_candidates_and_summary(env: Env) -> None:
    [t] = await env.service.apply([alert(microgrid="M1")])
    l1, w1 = await env.login("l1"), await env.login("w1")
    detail = (await env.client.get(f"/api/v1/tickets/{t.id}", headers=l1)).json()
    assert {c["id"] for c in detail["candidates"]} == {"p-w1", "p-w1b", "p-l1"}
    assert (await env.client.get(f"/api/v1/tickets/{t.id}", headers=w1)).json()["candidates"] == []
    r = await env.client.post(f"/api/v1/tickets/{t.id}/assign", headers=l1, json={})
    assert r.status_code == 422
    r = await env.client.post(f"/api/v1/tickets/{t.id}/assign", headers=l1, json={"assignee_id": "p-w1b"})
    assert r.json()["assignee_name"] == "赵磊"
    env.clock.advance(16 * 60)  # past the 15 min ack deadline of a major ticket
    s = (await env.client.get("/api/v1/summary", headers=w1)).json()
    assert s["active"] == 1
    assert s["overdue"] == 1
    assert s["by_severity"]["major"] == 1
    mine = (await env.client.get("/api/v1/tickets?mine=true", headers=w1)).json()
    assert mine["items"] == []
    active = (await env.client.get("/api/v1/tickets?status=active", headers=w1)).json()
    assert active["items"][0]["overdue"] is True


async def test_bulk_ack_reports_each_ticket_and_mean_times(env: Env) -> None:
    tickets = await env.service.apply(
        [alert(key="a:1", microgrid="M1"), alert(key="a:2", microgrid="M1"), alert(key="b:1", microgrid="M2")]
    )
    ids = [t.id for t in tickets]
    w1 = await env.login("w1")
    env.clock.advance(120)
    r = await env.client.post("/api/v1/tickets/bulk", headers=w1, json={"action": "ack", "ids": [*ids, ids[0]]})
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] == 2
    assert [(x["id"], x["ok"]) for x in body["results"]] == [(ids[0], True), (ids[1], True), (ids[2], False)]
    assert body["results"][2]["error"]["code"] == "not_found"  # another micro-grid's ticket stays hidden
    r = await env.client.post("/api/v1/tickets/bulk", headers=w1, json={"action": "assign", "ids": ids})
    assert r.status_code == 422
    r = await env.client.post("/api/v1/tickets/bulk", headers=w1, json={"action": "ack", "ids": []})
    assert r.status_code == 422
    env.clock.advance(480)
    await env.client.post(f"/api/v1/tickets/{ids[0]}/resolve", headers=w1, json={"note": "处理完毕"})
    s = (await env.client.get("/api/v1/summary", headers=w1)).json()
    assert s["mtta_s"] == 120.0
    assert s["mttr_s"] == 600.0


async def test_silence_endpoints(env: Env) -> None:
    l1, w1 = await env.login("l1"), await env.login("w1")
    body = {"scope_id": "M1", "rule_id": "smoke_alarm", "duration_s": 3600, "comment": "3号楼烟感年度测试"}
    assert (await env.client.post("/api/v1/silences", headers=w1, json=body)).status_code == 403
    r = await env.client.post("/api/v1/silences", headers=l1, json=body)
    assert r.status_code == 201
    s = r.json()
    assert s["active"] is True
    assert s["ends_at"] == env.clock.now() + 3600
    assert await env.service.apply([alert(rule="smoke_alarm", severity=Severity.CRITICAL)]) == []
    listed = (await env.client.get("/api/v1/silences", headers=w1)).json()["items"]
    assert [(x["id"], x["suppressed"], x["may_cancel"]) for x in listed] == [(s["id"], 1, False)]
    listed = (await env.client.get("/api/v1/silences", headers=l1)).json()["items"]
    assert [(x["id"], x["may_cancel"]) for x in listed] == [(s["id"], True)]
    bad = await env.client.post("/api/v1/silences", headers=l1, json={**body, "ends_at": env.clock.now() + 60})
    assert bad.status_code == 422
    assert error_code(bad) == "invalid_silence"
    r = await env.client.post(f"/api/v1/silences/{s['id']}/cancel", headers=l1)
    assert r.json()["active"] is False
    assert len(await env.service.apply([alert(rule="smoke_alarm", severity=Severity.CRITICAL)])) == 1


async def test_household_block_shows_contacts_only_with_consent(sqlite_engine: AsyncEngine) -> None:
    from devices.sample import sample_street

    reg = sample_street()
    watched = next(h for h in reg.households.values() if h.care.watched and h.care.emergency_contacts)
    plain = next(h for h in reg.households.values() if not h.care.consent)
    clock = ManualClock(1_000.0)
    service = TicketService(sqlite_engine, lambda: reg, clock)
    accounts = AccountStore(sqlite_engine, clock)
    await accounts.create_account("op", PASSWORD, Role.OPERATOR, "xf", "运维")
    app = FastAPI()
    install_error_handlers(app)
    mount(app, AlertsApi(service, accounts, lambda: reg))
    tickets = []
    for h in (watched, plain):
        mg = reg.buildings[h.building_id].microgrid_id
        a = alert(key=f"elderly_no_water:{h.id}", microgrid=mg, rule="elderly_no_water")
        tickets += await service.apply([replace(a, household_id=h.id, device_id=None, building_id=h.building_id)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        token = (await client.post("/api/v1/auth/login", json={"username": "op", "password": PASSWORD})).json()
        headers = {"Authorization": f"Bearer {token['token']}"}
        shown = (await client.get(f"/api/v1/tickets/{tickets[0].id}", headers=headers)).json()["household"]
        hidden = (await client.get(f"/api/v1/tickets/{tickets[1].id}", headers=headers)).json()["household"]
    assert shown["watched"] is True
    assert shown["unit"] == watched.unit
    assert [c["phone"] for c in shown["contacts"]] == [c.phone for c in watched.care.emergency_contacts]
    assert hidden["contacts"] == []


def test_contacts_need_consent() -> None:
    from alerts.api import household_info
    from devices.model import CareProfile, Contact, Household

    contact = Contact("李梅", "13800000000", "女儿")
    consenting = Household("h1", "B1", "1-101", care=CareProfile(True, True, True, (contact,)))
    refusing = Household("h2", "B1", "1-102", care=CareProfile(True, True, False, (contact,)))

    reg = FakeHierarchy()
    reg.households = {"h1": consenting, "h2": refusing}  # type: ignore[attr-defined]

    info1, info2 = household_info(reg, "h1"), household_info(reg, "h2")
    assert info1 is not None
    assert info2 is not None
    assert info1.model_dump()["contacts"] == [{"name": "李梅", "phone": "13800000000", "relation": "女儿"}]
    assert info2.contacts == []
    assert household_info(reg, None) is None
    assert household_info(FakeHierarchy(), "h1") is None


async def test_resident_feedback_link(env: Env) -> None:
    [t] = await env.service.apply([alert(microgrid="M1")])
    l1, w1 = await env.login("l1"), await env.login("w1")
    assert (await env.client.post(f"/api/v1/tickets/{t.id}/feedback-link", headers=l1)).status_code == 409  # open
    assert (await env.client.post("/api/v1/tickets/424242/feedback-link", headers=l1)).status_code == 404
    await env.client.post(f"/api/v1/tickets/{t.id}/resolve", headers=w1, json={"note": "已更换烟感电池"})
    assert (await env.client.post(f"/api/v1/tickets/{t.id}/feedback-link", headers=w1)).status_code == 403
    r = await env.client.post(f"/api/v1/tickets/{t.id}/feedback-link", headers=l1)
    assert r.status_code == 201
    token = r.json()["token"]
    assert r.json()["path"] == f"/feedback.html#{token}"
    anonymous = httpx.AsyncClient(transport=env.client._transport, base_url="http://test")  # no cookie, no token
    async with anonymous:
        view = (await anonymous.get(f"/api/v1/feedback/{token}")).json()
        assert view["resolution"] == "已更换烟感电池"
        assert "household_id" not in view
        bad = await anonymous.post("/api/v1/feedback", json={"token": token, "rating": 0})
        assert bad.status_code == 422
        ok = await anonymous.post("/api/v1/feedback", json={"token": token, "rating": 4, "comment": "很及时"})
        assert ok.status_code == 200
        again = await anonymous.post("/api/v1/feedback", json={"token": token, "rating": 1})
        assert again.status_code == 404  # one use only
        assert (await anonymous.get(f"/api/v1/feedback/{token}")).status_code == 404
        # links expire after 7 days
        token2 = (await env.client.post(f"/api/v1/tickets/{t.id}/feedback-link", headers=l1)).json()["token"]
        env.clock.advance(7 * 86_400)
        late = await anonymous.post("/api/v1/feedback", json={"token": token2, "rating": 5})
        assert late.status_code == 404
        forged = await anonymous.post("/api/v1/feedback", json={"token": "x" * 43, "rating": 5})
        assert forged.status_code == 404
    l1 = await env.login("l1")  # the earlier session expired during the week
    detail = (await env.client.get(f"/api/v1/tickets/{t.id}", headers=l1)).json()
    assert detail["rating"] == 4
    assert [(e["actor"], e["action"], e["note"]) for e in detail["timeline"] if e["action"] == "evaluate"] == [
        ("resident", "evaluate", "很及时")
    ]


async def test_ids_beyond_the_store_answer_422_without_internals(env: Env) -> None:
    """A ticket or silence id the store cannot hold (PostgreSQL's integer is 32-bit, SQLite's 64-bit) is refused
    before any query: it once answered 503 with the SQL, its parameters and the driver's error."""
    l1 = await env.login("l1")
    for big in (2**31, 2**63, 10**30):
        for method, path in (
            ("GET", f"/api/v1/tickets/{big}"),
            ("POST", f"/api/v1/tickets/{big}/ack"),
            ("POST", f"/api/v1/tickets/{big}/feedback-link"),
            ("POST", f"/api/v1/silences/{big}/cancel"),
        ):
            r = await env.client.request(method, path, headers=l1)
            assert r.status_code in (404, 422), (path, r.text)
            assert error_code(r) in ("not_found", "validation_error")
            for internal in ("SQL", "select", "asyncpg", "sqlite", "parameters", "Error:"):
                assert internal not in r.text, (path, r.text)
        r = await env.client.post("/api/v1/tickets/bulk", headers=l1, json={"action": "ack", "ids": [big]})
        assert r.status_code == 422, r.text
    assert (await env.client.get(f"/api/v1/tickets/{2**31 - 1}", headers=l1)).status_code == 404


async def test_silence_times_must_be_finite_and_devices_registered(env: Env) -> None:
    l1 = await env.login("l1")
    body = {"scope_id": "M1", "duration_s": 3600, "comment": "检修"}
    for bad in (
        {"starts_at": float("-inf")},
        {"starts_at": float("nan")},
        {"ends_at": float("inf"), "duration_s": None},
        {"duration_s": float("inf")},
        {"starts_at": -1e300},
        {"device_id": "not-a-device"},
    ):
        raw = json.dumps({**body, **bad})  # Python's json writes -Infinity and NaN, as a hostile client may
        r = await env.client.post("/api/v1/silences", headers={**l1, "Content-Type": "application/json"}, content=raw)
        assert r.status_code == 422, (bad, r.text)
        assert error_code(r) in ("validation_error", "invalid_silence")
    assert (await env.client.post("/api/v1/silences", headers=l1, json={**body, "device_id": "d1"})).status_code == 201


async def test_text_the_store_cannot_hold_is_the_callers_error_not_an_outage(env: Env) -> None:
    """PostgreSQL refuses a NUL character in text: that answered 503 store_unavailable, which monitoring reads
    as a database outage and which a stranger could cause at will through the login form."""
    r = await env.client.post("/api/v1/auth/login", json={"username": "w\x001", "password": "guess-guess"})
    assert r.status_code in (401, 422), r.text
    c1 = await env.login("c1")
    [t] = await env.service.apply([alert(microgrid="M1")])
    r = await env.client.post(f"/api/v1/tickets/{t.id}/comment", headers=c1, json={"note": "a\x00b"})
    assert r.status_code in (200, 422), r.text
