"""The service's HTTP app (`cwatch.http.build_http_app`: the API, the board, its headers and allow-list) around
an alerts service on SQLite, served by uvicorn in a thread, for browser tests and the README screenshot.
Everything async is created inside the server's own event loop (in its lifespan).

With `tile_url`, the site plan draws map tiles from that template; GET /test/tiles/{z}/{x}/{y}.png serves a
grey tile and counts the requests (`app.state.tiles`).

With `aways`, the households' "away confirmed" routes are served too (`cwatch.api`, the hierarchy being a
`Registry`); the answers they pass to the rule engine are kept in `app.state.answers`.

With `telemetry_path`, the evidence charts read a real SQLite telemetry store there, which POST /test/readings
fills (a list of `devices.reading.Reading` as JSON).

Test-only endpoints: POST /test/alerts with a list of alert dicts, applied through the service (as the rules
engine would); POST /test/escalate runs one escalation cycle (with a `MovableClock` moved on, deadlines pass
without waiting); POST /test/hang blocks the server's event loop until the test sets `app.state.release` (a
server that hangs: connections stay open, nothing answers)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

import msgspec
import uvicorn
from fastapi import FastAPI, Response
from prometheus_client import CollectorRegistry

import cwatch.api
from alerts.accounts import AccountStore
from alerts.api import AlertsApi, mount
from alerts.blobs import FileBlobStore
from alerts.board import STATIC_DIR
from alerts.media import MediaPolicy
from alerts.photos import PhotoRequirement, Photos
from alerts.scope import Hierarchy
from alerts.service import TicketService
from alerts.stream import ChangeHub
from alerts.tables import create_tables
from core.clock import Clock, SystemClock
from core.db import make_engine
from cwatch.api import OpsApi
from cwatch.http import build_http_app
from devices.model import Role
from devices.reading import Reading
from devices.registry import Registry
from ingest.sinks.sqlite import SqliteTelemetrySink
from rules.alert import Alert, AlertAction, Severity
from testkit.services import free_port

TILE_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR4nGNgYAAAAAMAAWgmWQ0AAAAASUVORK5CYII="
)


@dataclass
class Answers:
    """The rule engine's side of "away confirmed": what it was told (household, until or None)."""

    given: list[tuple[str, float | None]] = field(default_factory=list)

    def answer(self, household_id: str, until: float | None) -> None:
        self.given.append((household_id, until))


class MovableClock(SystemClock):
    """The system clock, moved forward by what `move` added: a test lets deadlines pass without waiting."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def move(self, seconds: float) -> None:
        self.ahead += seconds

    def now(self) -> float:
        return super().now() + self.ahead


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    role: Role
    scope_id: str
    display_name: str
    person_id: str | None = None


def build_app(
    db_path: Path,
    hierarchy: Hierarchy,
    logins: list[Login],
    clock: Clock | None = None,
    telemetry_path: Path | None = None,
    tile_url: str | None = None,
    tz: tzinfo = UTC,
    media: MediaPolicy | None = None,
    media_dir: Path | None = None,
    aways: bool = False,
) -> FastAPI:
    hub = ChangeHub()
    holder: dict[str, Any] = {}
    telemetry = SqliteTelemetrySink(telemetry_path, retention_s=60 * 86400.0) if telemetry_path else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(f"sqlite+aiosqlite:///{db_path}")
        await create_tables(engine)
        policy = media or MediaPolicy()
        guard = PhotoRequirement(engine, policy).check_resolve
        service = TicketService(engine, lambda: hierarchy, clock or SystemClock(), hub, tz=tz, resolve_guard=guard)
        photos = Photos(service, FileBlobStore(media_dir), policy) if media_dir is not None else None
        accounts = AccountStore(engine, SystemClock())
        for lg in logins:
            await accounts.create_account(lg.username, lg.password, lg.role, lg.scope_id, lg.display_name, lg.person_id)
        holder["service"] = service
        api = AlertsApi(
            service,
            accounts,
            lambda: hierarchy,
            hub,
            telemetry=telemetry,
            tile_url=tile_url,
            media=policy,
            photos=photos,
        )
        mount(app, api)
        if aways:
            assert isinstance(hierarchy, Registry), "aways need a registry"
            reg = hierarchy
            cwatch.api.mount(app, OpsApi(engine, lambda: reg, app.state.answers, clock=clock or SystemClock()))
        yield
        await engine.dispose()
        if telemetry is not None:
            await telemetry.close()

    async def ready() -> dict[str, bool]:
        return {"store": True}

    app = build_http_app(
        readiness=ready, metrics=CollectorRegistry(), board_dir=STATIC_DIR, media_hosts=media.hosts if media else ()
    )
    app.router.lifespan_context = lifespan

    @app.post("/test/alerts")
    async def inject(items: list[dict[str, Any]]) -> list[int]:
        alerts = [
            Alert(
                **{
                    **i,
                    "action": AlertAction(i.get("action", "raise")),
                    "severity": Severity(i["severity"]),
                }
            )
            for i in items
        ]
        return [t.id for t in await holder["service"].apply(alerts)]

    @app.post("/test/readings")
    async def readings(items: list[dict[str, Any]]) -> int:
        assert telemetry is not None, "build_app(telemetry_path=...) to store readings"
        refused = await telemetry.write(msgspec.convert(items, list[Reading]))
        return len(items) - len(refused)

    app.state.answers = Answers()
    app.state.tiles = []

    @app.get("/test/tiles/{z}/{x}/{y}.png")
    async def tile(z: int, x: int, y: int) -> Response:
        app.state.tiles.append((z, x, y))
        return Response(TILE_PNG, media_type="image/png")

    @app.post("/test/escalate")
    async def escalate() -> list[int]:
        return [t.id for t in await holder["service"].escalate_due()]

    app.state.release = threading.Event()

    @app.post("/test/hang")
    async def hang() -> dict[str, bool]:
        released: bool = app.state.release.wait(timeout=120)  # blocks the loop on purpose
        return {"released": released}

    return app


@contextmanager
def serve(app: FastAPI, timeout: float = 20.0, port: int | None = None) -> Iterator[str]:
    """Run `app` on `port` (default: a free one) in a background thread; yields its base URL once it accepts
    requests, and stops the server when the block ends."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("board app did not start")
        time.sleep(0.02)  # polling the server's readiness flag, with a deadline
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def alert_dict(
    key: str, microgrid: str, title: str, severity: str, ts: float, rule: str, **extra: Any
) -> dict[str, Any]:
    return {
        "action": "raise",
        "rule_id": rule,
        "dedup_key": key,
        "severity": severity,
        "ts": ts,
        "microgrid_id": microgrid,
        "title": title,
        **extra,
    }


Inject = Callable[[list[dict[str, Any]]], list[int]]
