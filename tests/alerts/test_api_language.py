"""The API's reasons are in the caller's language: the board's `lang` cookie first, then `Accept-Language`,
English when neither names Chinese; and every class of `alerts` error a person can meet carries a catalog text."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import AccountStore
from alerts.api import AlertsApi, install_error_handlers, mount
from alerts.service import TicketService
from alerts.stream import ChangeHub
from core.clock import ManualClock
from core.i18n import catalog
from devices.model import Role

from .fakes import FakeHierarchy, alert

PASSWORD = "correct-horse-42"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def client(sqlite_engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    clock = ManualClock(50_000.0)
    hierarchy = FakeHierarchy()
    hierarchy.microgrids = {"M1": SimpleNamespace(name="桂花苑一区")}  # type: ignore[attr-defined]
    hub = ChangeHub()
    service = TicketService(sqlite_engine, lambda: hierarchy, clock, hub)
    accounts = AccountStore(sqlite_engine, clock, session_ttl=3600)
    await accounts.create_account("w1", PASSWORD, Role.GRID_WORKER, "M1", "王芳", "p-w1")
    await accounts.create_account("l1", PASSWORD, Role.MICROGRID_LEADER, "M1", "李强", "p-l1")
    await service.apply([alert(microgrid="M1")])
    app = FastAPI()
    install_error_handlers(app)
    mount(app, AlertsApi(service, accounts, lambda: hierarchy, hub))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        r = await c.post("/api/v1/auth/login", json={"username": "w1", "password": PASSWORD})
        assert r.status_code == 200, r.text
        yield c


async def _resolve_without_note(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    tid = (await client.get("/api/v1/tickets")).json()["items"][0]["id"]
    await client.post(f"/api/v1/tickets/{tid}/ack")
    return await client.post(f"/api/v1/tickets/{tid}/resolve", json={"note": " "}, headers=headers)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}, "解决需要填写说明"),
        ({"Accept-Language": "en-US,en;q=0.9"}, "resolve needs a note"),
        ({}, "resolve needs a note"),
    ],
    ids=["zh", "en", "none"],
)
async def test_a_4xx_reason_follows_accept_language(
    client: httpx.AsyncClient, headers: dict[str, str], message: str
) -> None:
    r = await _resolve_without_note(client, headers)
    assert r.status_code == 422
    assert r.json()["error"] == {"code": "note_required", "message": message}


async def test_the_boards_lang_cookie_comes_before_accept_language(client: httpx.AsyncClient) -> None:
    client.cookies.set("lang", "zh-CN")
    r = await _resolve_without_note(client, {"Accept-Language": "en-US"})
    assert r.json()["error"]["message"] == "解决需要填写说明"
    client.cookies.set("lang", "en")
    r = await client.post(
        "/api/v1/auth/login", json={"username": "w1", "password": "wrong"}, headers={"Accept-Language": "zh-CN"}
    )
    assert (r.status_code, r.json()["error"]["message"]) == (401, "wrong username or password")


async def test_failed_logins_and_unknown_tickets_are_told_in_chinese(client: httpx.AsyncClient) -> None:
    zh = {"Accept-Language": "zh-CN"}
    r = await client.get("/api/v1/tickets/999", headers=zh)
    assert (r.status_code, r.json()["error"]["message"]) == (404, "找不到工单 999")
    r = await client.post("/api/v1/auth/login", json={"username": "w1", "password": "wrong"}, headers=zh)
    assert r.json()["error"]["message"] == "用户名或密码错误"


async def test_names_instead_of_ids_for_the_scope_the_actor_and_the_silences_creator(
    client: httpx.AsyncClient,
) -> None:
    me = (await client.get("/api/v1/me")).json()
    assert (me["scope_id"], me["scope_name"]) == ("M1", "桂花苑一区")
    tid = (await client.get("/api/v1/tickets")).json()["items"][0]["id"]
    await client.post(f"/api/v1/tickets/{tid}/ack")
    timeline = (await client.get(f"/api/v1/tickets/{tid}")).json()["timeline"]
    assert [(e["actor"], e["actor_name"]) for e in timeline][-1] == ("w1", "王芳")
    assert timeline[0]["actor_name"] is None  # the system has no account
    r = await client.post("/api/v1/auth/login", json={"username": "l1", "password": PASSWORD})
    assert r.status_code == 200
    r = await client.post("/api/v1/silences", json={"scope_id": "M1", "comment": "年度测试", "duration_s": 3600})
    assert r.status_code == 201, r.text
    [silence] = (await client.get("/api/v1/silences")).json()["items"]
    assert (silence["scope_name"], silence["created_by_name"]) == ("桂花苑一区", "李强")


async def test_a_malformed_request_names_its_fields_in_the_callers_language(client: httpx.AsyncClient) -> None:
    body = {"username": "w1"}
    r = await client.post("/api/v1/auth/login", json=body, headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "password: 必填"
    r = await client.post("/api/v1/auth/login", json=body, headers={"Accept-Language": "en"})
    assert r.json()["error"]["message"] == "password: Field required"


async def test_a_choice_outside_the_allowed_ones_lists_them_in_the_callers_language(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/api/v1/tickets?status=bogus", headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert message.startswith("status.0: 应为 'active'")
    assert message.endswith(" 或 'closed'")
    assert " or " not in message
    r = await client.get("/api/v1/tickets?status=bogus", headers={"Accept-Language": "en"})
    assert r.json()["error"]["message"].endswith(" or 'closed'")


async def test_a_path_no_route_answers_is_told_in_chinese(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/no-such-thing", headers={"Accept-Language": "zh-CN"})
    assert (r.status_code, r.json()["error"]["message"]) == (404, "未找到")
    r = await client.delete("/api/v1/tickets", headers={"Accept-Language": "zh-CN"})
    assert (r.status_code, r.json()["error"]["message"]) == (405, "不支持此方法")
    r = await client.get("/api/v1/no-such-thing")
    assert r.json()["error"]["message"] == "Not Found"


def _plain_string_raises() -> list[str]:
    """`raise SomeError("literal")` or `raise SomeError(f"...")` in `alerts` and the API: a reason that would
    reach a person in English only."""
    found = []
    for folder in ("alerts", "cwatch/api"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                    first = node.exc.args[_MESSAGE_AT.get(_name(node.exc), 0)]
                    if _is_key(first):  # a catalog key handed on to `tr` (alerts.recurrence)
                        continue
                    if isinstance(first, ast.Constant | ast.JoinedStr) and _name(node.exc) not in _INTERNAL:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _is_key(arg: ast.expr) -> bool:
    return isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value in catalog()


def _name(call: ast.Call) -> str:
    return call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")


#: where the message is among the arguments when it is not the first
_MESSAGE_AT = {"LinkRefusedError": 1, "UploadError": 1}
#: errors whose message is for the log or an operator (5xx, deliveries, settings), never an API reason
_INTERNAL = {
    "StoreError",
    "DeliveryError",
    "UndeliverableError",
    "BlobMissingError",
    "ValueError",
    "KeyError",
    "TypeError",
    "RuntimeError",
    "TelemetryUnavailableError",
    "RecurrenceError",  # carries a catalog key, which the API renders in the reader's language
    "AssertionError",
    "NotImplementedError",
}


def test_every_reason_a_person_reads_comes_from_the_catalog() -> None:
    assert _plain_string_raises() == []
