"""The `/api/v1` routes of `alerts`: sessions, tickets, silences, resident feedback, the summary, the live
stream, the audit log, the monthly reports and the site plan, one module per resource. Routes are thin: each
validates its input (pydantic models, `models`), calls one `TicketService` / `AccountStore` method and shapes
the answer (`views`). Errors are one model (`errors`).

Wiring::

    app = FastAPI()
    install_error_handlers(app)
    mount(app, AlertsApi(service, accounts, registry, hub))   # routes under /api/v1
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from alerts.api import (
    accounts,
    audit,
    auth,
    evidence,
    feedback,
    links,
    media,
    reports,
    silences,
    siteplan,
    stream,
    summary,
    tickets,
)
from alerts.api.deps import COOKIE, AlertsApi, session_token
from alerts.api.errors import COMMON_ERRORS, ErrorBody, install_error_handlers
from alerts.api.views import household_info

PREFIX = "/api/v1"
ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    tickets.router,
    feedback.router,
    links.router,
    silences.router,
    summary.router,
    stream.router,
    audit.router,
    accounts.router,
    media.router,
    evidence.router,
    reports.router,
    siteplan.router,
)


def mount(app: FastAPI, api: AlertsApi, prefix: str = PREFIX) -> None:
    """Serve the routes of `alerts` on `app` under `prefix`, working with `api`'s services."""
    app.state.alerts_api = api
    include_routes(app, prefix)


def include_routes(app: FastAPI, prefix: str = PREFIX) -> None:
    """Add the routes (without services: enough for the OpenAPI document)."""
    for router in ROUTERS:
        app.include_router(router, prefix=prefix, responses=COMMON_ERRORS)


__all__ = [
    "COOKIE",
    "PREFIX",
    "AlertsApi",
    "ErrorBody",
    "household_info",
    "include_routes",
    "install_error_handlers",
    "mount",
    "session_token",
]
