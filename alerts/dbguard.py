"""Translate database failures into `alerts.errors.StoreError` at the package boundary, so callers (the rule
runner, the API) handle one error type. Integrity errors pass through: the store turns them into decisions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from alerts.errors import AlertsError, StoreError


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    try:
        yield
    except (AlertsError, IntegrityError):
        raise
    except (DBAPIError, SQLAlchemyError, OSError) as e:
        raise StoreError(f"database failed: {type(e).__name__}: {e}") from e
