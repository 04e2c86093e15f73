"""Translate database failures into `alerts.errors.StoreError` at the package boundary, so callers (the rule
runner, the API) handle one error type. Integrity errors pass through: the store turns them into decisions.

A value the database refuses as data (SQLSTATE class 22: a NUL character in text, a number out of range) came
from the caller, not from a failing store: it is a `ValidationError` (422), not a 503 that monitoring would read
as an outage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from alerts.errors import AlertsError, StoreError, ValidationError
from core.i18n import tr


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    try:
        yield
    except (AlertsError, IntegrityError):
        raise
    except DBAPIError as e:
        if str(getattr(e.orig, "sqlstate", "") or "").startswith("22"):
            raise ValidationError(tr("errors.value_not_storable")) from e
        raise StoreError(f"database failed: {type(e).__name__}: {e}") from e
    except (SQLAlchemyError, OSError) as e:
        raise StoreError(f"database failed: {type(e).__name__}: {e}") from e
