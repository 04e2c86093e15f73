"""Pins the surface other packages (the wiring, the demo, e2e tests) use, and the error hierarchy."""

from __future__ import annotations

import inspect

import alerts.errors as errors
from alerts.accounts import AccountStore
from alerts.api import AlertsApi, install_error_handlers, mount
from alerts.board import STATIC_DIR
from alerts.escalation import Escalator
from alerts.notify import OutboxDispatcher
from alerts.service import TicketService
from alerts.store import create_tables


def params(fn: object) -> list[str]:
    return [p for p in inspect.signature(fn).parameters if p != "self"]  # type: ignore[arg-type]


def test_wiring_surface() -> None:
    assert inspect.iscoroutinefunction(create_tables)
    assert params(TicketService)[:4] == ["engine", "registry", "clock", "notifier"]
    for name in ("apply", "act", "act_many", "list_tickets", "get_ticket", "summary", "escalate_due"):
        assert inspect.iscoroutinefunction(getattr(TicketService, name)), name
    for name in ("acknowledge", "start", "resolve", "close", "reopen", "comment", "assign"):
        assert params(getattr(TicketService, name))[:2] == ["ticket_id", "actor"], name
    assert params(AccountStore.create_account) == [
        "username",
        "password",
        "role",
        "scope_id",
        "display_name",
        "person_id",
        "by",
    ]
    for name in ("login", "logout", "authenticate"):
        assert inspect.iscoroutinefunction(getattr(AccountStore, name))
    assert params(AlertsApi)[:4] == ["service", "accounts", "registry", "hub"]
    assert params(mount)[:2] == ["app", "api"]
    assert params(install_error_handlers) == ["app"]
    for cls in (Escalator, OutboxDispatcher):
        assert inspect.iscoroutinefunction(cls.run)
        assert inspect.iscoroutinefunction(cls.stop)
    assert {p.name for p in STATIC_DIR.iterdir()} >= {"index.html", "board.js", "board.css"}


def test_one_error_hierarchy_with_http_statuses() -> None:
    classes = [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, Exception) and c.__module__ == errors.__name__
    ]
    assert all(issubclass(c, errors.AlertsError) for c in classes)
    for c in classes:
        assert 400 <= c.status < 600, c
        assert c.code, c
    assert errors.NotFoundError.status == 404
    assert errors.ForbiddenError.status == 403
    assert errors.TransitionError.status == 409
