"""Database failures reach callers as `StoreError` (503 over HTTP), not as SQLAlchemy exceptions."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from alerts.accounts import AccountStore
from alerts.api import AlertsApi, install_error_handlers, mount
from alerts.errors import StoreError
from alerts.service import TicketService
from core.clock import ManualClock
from core.db import make_engine

from .fakes import OPERATOR, FakeHierarchy, alert


async def test_missing_tables_become_store_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")  # no create_tables: every query fails
    h = FakeHierarchy()
    service = TicketService(engine, lambda: h, ManualClock(0.0))
    accounts = AccountStore(engine, ManualClock(0.0))
    try:
        with pytest.raises(StoreError):
            await service.apply([alert()])
        with pytest.raises(StoreError):
            await service.list_tickets(OPERATOR)
        with pytest.raises(StoreError):
            await accounts.login("someone", "some-password")
        app = FastAPI()
        install_error_handlers(app)
        mount(app, AlertsApi(service, accounts, lambda: h))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            r = await client.post("/api/v1/auth/login", json={"username": "a", "password": "b"})
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "store_unavailable"
        # the client learns that the store is down, not its tables, statements or driver
        assert r.json()["error"]["message"] == StoreError.public_message
        for internal in ("SQL", "SELECT", "sqlite", "accounts", "login_throttle", "OperationalError"):
            assert internal not in r.text
        assert "no such table" in caplog.text  # the operator does, in the log
    finally:
        await engine.dispose()
