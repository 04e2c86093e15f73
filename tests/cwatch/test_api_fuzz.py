"""Schema-driven fuzzing of the whole `/api/v1` (schemathesis), against the live OpenAPI document of a running
server, once per role: no answer is a 5xx, every answer's status, media type and body match what the document
says, and no item outside the caller's scope comes back.

The server is the service's own HTTP app (`cwatch.http.build_http_app`) on the sample street, with tickets in
every micro-grid, silences at several levels and one account per role. Examples per operation are bounded and
derandomized (the same run every time). `/stream` never ends and `/auth/logout` would end the session the
others use: both are tested on their own elsewhere."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from prometheus_client import CollectorRegistry
from schemathesis import checks as st_checks

import cwatch.api
from alerts.accounts import AccountStore
from alerts.api import AlertsApi, mount
from alerts.audit import Who
from alerts.blobs import FileBlobStore
from alerts.media import MediaPolicy
from alerts.photos import PhotoRequirement, Photos
from alerts.service import TicketService
from core.clock import SystemClock
from core.db import make_engine
from cwatch.api import OpsApi
from cwatch.http import build_http_app
from cwatch.store import create_all_tables
from devices.model import Role
from devices.registry import Registry
from devices.sample import sample_street
from ingest.sinks.sqlite import SqliteTelemetrySink
from rules.alert import Alert, AlertAction, Severity
from testkit.services import free_port

PASSWORD = "fuzz-password-0123"
EXAMPLES = 10  # per operation and role: about 1,500 requests in all
SKIPPED = {("GET", "/api/v1/stream"), ("POST", "/api/v1/auth/logout")}
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
]


class Answers:
    def answer(self, household_id: str, until: float | None) -> None:
        return None


def scopes(reg: Registry) -> dict[Role, str]:
    street = next(iter(reg.streets))
    community = next(iter(reg.communities))
    microgrid = next(iter(reg.microgrids))
    return {
        Role.STREET_DUTY: street,
        Role.COMMUNITY_DUTY: community,
        Role.MICROGRID_LEADER: microgrid,
        Role.GRID_WORKER: microgrid,
        Role.OPERATOR: street,
    }


def build(db: Path, reg: Registry) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(f"sqlite+aiosqlite:///{db}")
        await create_all_tables(engine)
        clock = SystemClock()
        policy = MediaPolicy.of(["nvr.example.cn"], photo_rules=["smoke_alarm"])
        guard = PhotoRequirement(engine, policy).check_resolve
        service = TicketService(engine, lambda: reg, clock, resolve_guard=guard)
        accounts = AccountStore(engine, clock)
        for role, scope in scopes(reg).items():
            await accounts.create_account(role.value, PASSWORD, role, scope, role.value, by=Who("fuzz", "test"))
        now = clock.now()
        alerts = [
            Alert(AlertAction.RAISE, "smoke_alarm", f"smoke_alarm:{mg}", Severity.MAJOR, now - 60, mg, f"烟感 {mg}")
            for mg in reg.microgrids
        ]
        await service.apply(alerts)
        for node in (*list(reg.microgrids)[:3], next(iter(reg.communities))):
            op = await accounts.by_username(Role.OPERATOR.value)
            assert op is not None
            await service.silences.create(op, reg, now, scope_id=node, ends_at=now + 3600, comment=f"维护 {node}")
        photos = Photos(service, FileBlobStore(db.parent / "media"), policy)
        telemetry = SqliteTelemetrySink(db.parent / "telemetry.db", 30 * 86_400)
        mount(app, AlertsApi(service, accounts, lambda: reg, media=policy, photos=photos, telemetry=telemetry))
        cwatch.api.mount(app, OpsApi(engine, lambda: reg, Answers()))
        yield
        await telemetry.close()
        await engine.dispose()

    async def ready() -> dict[str, bool]:
        return {"store": True}

    app = build_http_app(readiness=ready, metrics=CollectorRegistry())
    app.router.lifespan_context = lifespan
    return app


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Registry]]:
    reg = sample_street(2)
    app = build(tmp_path_factory.mktemp("fuzz") / "fuzz.db", reg)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the fuzz server did not start"
        assert time.monotonic() < deadline, "the fuzz server did not start in time"
        time.sleep(0.02)  # polling the server's readiness flag, with a deadline
    try:
        yield f"http://127.0.0.1:{server.config.port}", reg
    finally:
        server.should_exit = True
        thread.join(15)


def login(url: str, role: Role) -> dict[str, str]:
    """A session of `role`. The fuzzed logins fail from this address and throttle it: a 429 is waited out as its
    `Retry-After` says (a deadline, not a fixed pause)."""
    deadline = time.monotonic() + 120
    while True:
        r = httpx.post(f"{url}/api/v1/auth/login", json={"username": role.value, "password": PASSWORD})
        if r.status_code != 429 or time.monotonic() > deadline:
            break
        time.sleep(int(r.headers.get("retry-after", "1")))
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def out_of_scope(body: Any, role: Role, scope: str, reg: Registry) -> list[str]:
    """Items of `body` the caller should never see: tickets of micro-grids, households and silences neither
    within their scope nor (for silences) covering it."""
    if role is Role.OPERATOR:
        return []
    found: list[str] = []

    def within(node: str) -> bool:
        return node == scope or reg.is_within(node, scope)

    def walk(x: Any) -> None:
        if isinstance(x, list):
            for item in x:
                walk(item)
        elif isinstance(x, dict):
            if "dedup_key" in x and "microgrid_id" in x and not within(x["microgrid_id"]):  # not a ticket's members
                found.append(f"ticket {x['id']} of {x['microgrid_id']}")
            if "comment" in x and "ends_at" in x and not (within(x["scope_id"]) or reg.is_within(scope, x["scope_id"])):
                found.append(f"silence {x['id']} of {x['scope_id']}")
            if "away" in x and "household_id" in x and not within(x["household_id"]):
                found.append(f"household {x['household_id']}")
            for value in x.values():
                walk(value)

    walk(body)
    return found


def fuzz(op: Any, url: str, headers: dict[str, str], leaks: Callable[[Any], list[str]]) -> None:
    """Call `op` with `EXAMPLES` generated requests (the same ones every run) and check each answer."""

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy())
    def run(case: Any) -> None:
        response = case.call(base_url=url, headers=headers)
        case.validate_response(response, checks=CHECKS)
        media_type = (response.headers.get("content-type") or [""])[0]
        if media_type.startswith("application/json") and response.content:
            leaked = leaks(json.loads(response.content))
            assert not leaked, f"{op.method.upper()} {op.path} showed {leaked}"

    run()


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_every_operation_holds_to_its_schema_and_the_callers_scope(live: tuple[str, Registry], role: Role) -> None:
    url, reg = live
    headers = login(url, role)
    scope = scopes(reg)[role]
    schema = schemathesis.openapi.from_url(f"{url}/api/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) > 20
    ran = 0
    for op in operations:
        if (op.method.upper(), op.path) not in SKIPPED:
            fuzz(op, url, headers, lambda body: out_of_scope(body, role, scope, reg))
            ran += 1
    assert ran == len(operations) - len(SKIPPED)


def test_the_scope_check_sees_a_leak(live: tuple[str, Registry]) -> None:
    """The control for the scope check above: an operator's ticket list, read as a grid worker, is a leak."""
    url, reg = live
    body = httpx.get(f"{url}/api/v1/tickets?limit=500", headers=login(url, Role.OPERATOR)).json()
    assert len(body["items"]) == len(reg.microgrids)
    assert out_of_scope(body, Role.GRID_WORKER, scopes(reg)[Role.GRID_WORKER], reg)
    assert not out_of_scope(body, Role.OPERATOR, scopes(reg)[Role.OPERATOR], reg)
