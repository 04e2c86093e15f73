"""The HTTP surface of the service: health, readiness, metrics, the API routers and the board.

The app is assembled from parts handed in by `cwatch.app`, so it holds no state of its own and tests can build
it around fakes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

import alerts.api
import cwatch.api
from alerts.api import AlertsApi, install_error_handlers
from cwatch.api import OpsApi

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


def build_http_app(
    *,
    readiness: ReadinessCheck,
    metrics: CollectorRegistry,
    alerts_api: AlertsApi | None = None,
    ops_api: OpsApi | None = None,
    board_dir: Path | None = None,
    title: str = "cwatch",
) -> FastAPI:
    app = FastAPI(title=title, docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None)
    install_error_handlers(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Liveness: the process is up and its event loop answers."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Readiness: the broker is connected and every store answers."""
        checks = await readiness()
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    if alerts_api is not None:
        alerts.api.mount(app, alerts_api)
        if ops_api is not None:
            cwatch.api.mount(app, ops_api)
    if board_dir is not None:
        app.mount("/", StaticFiles(directory=board_dir, html=True), name="board")
    return app
