"""The HTTP surface of the service: health, readiness, metrics, the API and the board.

The app is assembled from parts handed in by `cwatch.app`, so it holds no state of its own and tests can build
it around fakes. What is public on the board's port: the board's files (an allow-list) and its texts
(`/messages.json`), the API (its own authentication), `/api/openapi.json`, `/healthz` and a bare `/readyz`
(`{"ready": bool}`, for load balancers). `/metrics` (with each readiness check as `cwatch_ready{check=...}`)
answers only with the bearer token of `http.metrics_token`; without one set it is not served. No interactive
API docs: they would load code from a CDN onto the API's origin; docs/api.md describes the API."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from starlette.routing import BaseRoute

import alerts.api
import cwatch.api
from alerts.api import AlertsApi, install_error_handlers
from alerts.api.errors import error_response
from alerts.board import FILES, MISSING, PAGES, messages
from core.urls import AllowEntry
from cwatch.api import OpsApi
from cwatch.websec import BrowserSafety, board_routes

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]
OPENAPI_URL = "/api/openapi.json"


def build_http_app(
    *,
    readiness: ReadinessCheck,
    metrics: CollectorRegistry,
    alerts_api: AlertsApi | None = None,
    ops_api: OpsApi | None = None,
    board_dir: Path | None = None,
    metrics_token: str = "",
    title: str = "cwatch",
    media_hosts: Sequence[AllowEntry] = (),
    image_hosts: Sequence[AllowEntry] = (),
    routes: Sequence[BaseRoute] = (),
) -> FastAPI:
    """`media_hosts`: the camera hosts whose pictures and clips the board may load (`media.hosts`);
    `image_hosts`: where else it may load images from (the site plan's map tiles, `siteplan.tile_url`);
    `routes`: more routes, after all others (the demo's mailbox)."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=OPENAPI_URL)
    install_error_handlers(app)
    app.add_middleware(BrowserSafety, media_hosts=tuple(media_hosts), image_hosts=tuple(image_hosts))
    ready_gauge = Gauge("cwatch_ready", "1 when the readiness check passes", ["check"], registry=metrics)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Liveness: the process is up and its event loop answers."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Readiness: the broker is connected and every store answers. Which check failed is in /metrics."""
        ok = all((await readiness()).values())
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not metrics_token:
            return error_response(404, "not_found", "metrics are served only with http.metrics_token set")
        if not hmac.compare_digest(given.encode(), metrics_token.encode()):
            return error_response(401, "unauthorized", "metrics need the bearer token of http.metrics_token")
        for check, passed in (await readiness()).items():
            ready_gauge.labels(check).set(1 if passed else 0)
        return Response(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    if alerts_api is not None:
        alerts.api.mount(app, alerts_api)
        if ops_api is not None:
            cwatch.api.mount(app, ops_api)
    if board_dir is not None:
        app.router.routes.extend(board_routes(board_dir, FILES, PAGES, MISSING))
        board_texts = messages()

        @app.get("/messages.json", include_in_schema=False)
        async def board_messages() -> JSONResponse:
            """The board's texts in every language (`core/messages`), so its language switch needs no reload."""
            return JSONResponse(board_texts, headers={"Cache-Control": "no-cache"})

    app.router.routes.extend(routes)
    return app
