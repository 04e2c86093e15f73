"""The service's HTTP surface as a stranger meets it (`cwatch.http`): security headers on every answer, the
board's files from an allow-list, no CDN-loading docs page, metrics behind a token, a bare readiness answer,
and cookie-carried state changes refused when a browser says they come from another site."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from alerts.accounts import AccountStore
from alerts.api import AlertsApi
from alerts.board import STATIC_DIR
from alerts.service import TicketService
from alerts.tables import create_tables
from core.clock import ManualClock
from core.db import make_engine
from cwatch.http import build_http_app
from devices.model import Role
from tests.alerts.fakes import FakeHierarchy, alert

PASSWORD = "correct-horse-42"
TOKEN = "metrics-token-0123456789"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, TicketService]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'http.db'}")
    await create_tables(engine)
    clock, hierarchy = ManualClock(50_000.0), FakeHierarchy()
    service = TicketService(engine, lambda: hierarchy, clock)
    accounts = AccountStore(engine, clock)
    await accounts.create_account("w1", PASSWORD, Role.GRID_WORKER, "M1", "W1", "p-w1")

    async def ready() -> dict[str, bool]:
        return {"store": True, "broker": False}

    app = build_http_app(
        readiness=ready,
        metrics=CollectorRegistry(),
        alerts_api=AlertsApi(service, accounts, lambda: hierarchy),
        board_dir=STATIC_DIR,
        metrics_token=TOKEN,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://board.test") as c:
        yield c, service
    await engine.dispose()


async def test_every_answer_carries_the_security_headers(client: tuple[httpx.AsyncClient, TicketService]) -> None:
    c, _ = client
    for path in ("/", "/board.js", "/api/v1/me", "/api/v1/nothing", "/readyz", "/__init__.py"):
        r = await c.get(path)
        csp = r.headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp, path
        assert "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"


async def test_board_files_come_from_an_allow_list(client: tuple[httpx.AsyncClient, TicketService]) -> None:
    c, _ = client
    index = await c.get("/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert "<script>" not in index.text  # no inline script: the CSP would refuse it
    assert (await c.get("/board.js")).headers["content-type"].startswith("text/javascript")
    assert (await c.get("/feedback.html")).status_code == 200
    for path in ("/__init__.py", "/__pycache__/__init__.cpython-311.pyc", "/../api/__init__.py", "/api/docs"):
        r = await c.get(path)
        assert r.status_code == 404, path
    assert (await c.get("/api/openapi.json")).json()["paths"]


async def test_metrics_need_the_token_and_readiness_says_only_yes_or_no(
    client: tuple[httpx.AsyncClient, TicketService],
) -> None:
    c, _ = client
    ready = await c.get("/readyz")
    assert (ready.status_code, ready.json()) == (503, {"ready": False})
    assert (await c.get("/metrics")).status_code == 401
    assert (await c.get("/metrics", headers={"Authorization": "Bearer wrong-token-0123456789"})).status_code == 401
    r = await c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200
    assert 'cwatch_ready{check="broker"} 0.0' in r.text


async def test_metrics_are_off_without_a_token() -> None:
    async def ready() -> dict[str, bool]:
        return {}

    app = build_http_app(readiness=ready, metrics=CollectorRegistry())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/metrics")).status_code == 404


async def test_cross_site_requests_with_the_cookie_are_refused(client: tuple[httpx.AsyncClient, TicketService]) -> None:
    """A page on another site that makes the browser POST with the session cookie changes nothing."""
    c, service = client
    [t] = await service.apply([alert(microgrid="M1")])
    assert (await c.post("/api/v1/auth/login", json={"username": "w1", "password": PASSWORD})).status_code == 200
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        r = await c.post(f"/api/v1/tickets/{t.id}/ack", headers=headers)
        assert r.status_code == 403, headers
        assert r.json()["error"]["code"] == "cross_site"
    assert (await c.get(f"/api/v1/tickets/{t.id}")).json()["status"] == "open"
    # a cross-site login would plant the attacker's session in the victim's browser
    r = await c.post(
        "/api/v1/auth/login", json={"username": "w1", "password": PASSWORD}, headers={"Origin": "http://x.y"}
    )
    assert r.status_code == 403
    # the board itself (same origin), and programs that send neither header, go through
    same = {"Origin": "http://board.test", "Sec-Fetch-Site": "same-origin"}
    assert (await c.post(f"/api/v1/tickets/{t.id}/ack", headers=same)).json()["status"] == "acknowledged"
    assert (await c.post(f"/api/v1/tickets/{t.id}/start")).json()["status"] == "in_progress"


async def test_the_csp_lets_images_and_video_come_only_from_the_media_hosts() -> None:
    from core.urls import parse_allow_entry

    hosts = [parse_allow_entry("nvr.example.cn"), parse_allow_entry("*.cam.example.org:8443")]

    async def ready() -> dict[str, bool]:
        return {}

    app = build_http_app(readiness=ready, metrics=CollectorRegistry(), board_dir=STATIC_DIR, media_hosts=hosts)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        csp = (await c.get("/")).headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["img-src"] == "'self' data: nvr.example.cn *.cam.example.org:8443"
    assert directives["media-src"] == "'self' nvr.example.cn *.cam.example.org:8443"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"


def test_a_media_host_that_is_not_a_host_source_stops_start_up(tmp_path: Path) -> None:
    from cwatch.errors import SettingsError
    from cwatch.settings import load_settings

    p = tmp_path / "cwatch.toml"
    p.write_text('[media]\nhosts = ["nvr.example.cn; script-src *"]\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"cwatch.toml:2: media.hosts: .*not a host source"):
        load_settings(p, environ={})


async def test_map_tiles_of_the_site_plan_may_load_only_from_the_tile_host() -> None:
    from cwatch.settings import tile_source

    async def ready() -> dict[str, bool]:
        return {}

    tiles = tile_source("https://tiles.example.cn:8443/osm/{z}/{x}/{y}.png")
    app = build_http_app(readiness=ready, metrics=CollectorRegistry(), board_dir=STATIC_DIR, image_hosts=[tiles])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        csp = (await c.get("/wall")).headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["img-src"] == "'self' data: https://tiles.example.cn:8443"
    assert directives["media-src"] == "'self'"  # images only


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("javascript:alert(1)//{z}/{x}/{y}", "expected http"),
        ("https://tiles.example.cn/{z}/{x}.png", r"needs \{z\}, \{x\} and \{y\}"),
        ("https://{s}.tiles.example.cn/{z}/{x}/{y}.png", "expected http|no other placeholder"),
    ],
)
def test_a_tile_url_that_is_not_a_template_stops_start_up(tmp_path: Path, url: str, why: str) -> None:
    from cwatch.errors import SettingsError
    from cwatch.settings import load_settings

    p = tmp_path / "cwatch.toml"
    p.write_text(f'[siteplan]\ntile_url = "{url}"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=rf"cwatch.toml:2: siteplan.tile_url: .*({why})"):
        load_settings(p, environ={})
