"""The `/api/v1` routes that belong to no single package: dead letters, the registry summary and households'
"away confirmed" (which reaches the rule engine). Sessions and errors are those of `alerts.api`."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from alerts.api import PREFIX
from alerts.api.errors import COMMON_ERRORS
from cwatch.api import deadletters, households, registry
from cwatch.api.deps import OpsApi

ROUTERS: tuple[APIRouter, ...] = (deadletters.router, registry.router, households.router)


def mount(app: FastAPI, api: OpsApi, prefix: str = PREFIX) -> None:
    """Serve these routes on `app` under `prefix` (after `alerts.api.mount`, whose sessions they use)."""
    app.state.ops_api = api
    include_routes(app, prefix)


def include_routes(app: FastAPI, prefix: str = PREFIX) -> None:
    """Add the routes (without services: enough for the OpenAPI document)."""
    for router in ROUTERS:
        app.include_router(router, prefix=prefix, responses=COMMON_ERRORS)


__all__ = ["OpsApi", "include_routes", "mount"]
