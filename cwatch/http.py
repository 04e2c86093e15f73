"""The HTTP surface of the service: health, readiness, metrics, the API routers and the board.

The app is assembled from parts handed in by `cwatch.app`, so it holds no state of its own and tests can build
it around fakes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


def build_http_app(
    *,
    readiness: ReadinessCheck,
    metrics: CollectorRegistry,
    routers: Sequence[tuple[str, APIRouter]] = (),
    board_dir: Path | None = None,
    install_error_handlers: Callable[[FastAPI], None] | None = None,
    title: str = "cwatch",
) -> FastAPI:
    app = FastAPI(title=title, docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None)
    if install_error_handlers is not None:
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

    for prefix, router in routers:
        app.include_router(router, prefix=prefix)
    if board_dir is not None:
        app.mount("/", StaticFiles(directory=board_dir, html=True), name="board")
    return app
