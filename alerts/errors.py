"""The one exception hierarchy of `alerts`. The API maps each class to an HTTP status, so callers never see
SQLAlchemy or FastAPI errors from this package."""

from __future__ import annotations


class AlertsError(Exception):
    """Base of every error raised by `alerts`. `code` is the stable machine-readable name sent to clients."""

    code = "alerts_error"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransitionError(AlertsError):
    """The action is not possible from the ticket's current status (or lacks a required note)."""

    code = "invalid_transition"
    status = 409


class NoteRequiredError(TransitionError):
    """Resolving (and reopening) needs a note saying what was done or why."""

    code = "note_required"
    status = 422


class ForbiddenError(AlertsError):
    """The actor sees the ticket but their role may not perform this action."""

    code = "forbidden"
    status = 403


class NotFoundError(AlertsError):
    """No such ticket *in the actor's scope*: out-of-scope tickets are reported exactly like missing ones."""

    code = "not_found"
    status = 404


class AuthError(AlertsError):
    """Missing, unknown or expired session, or wrong username/password."""

    code = "unauthorized"
    status = 401


class ConflictError(AlertsError):
    """A uniqueness rule was violated (e.g. the username is taken)."""

    code = "conflict"
    status = 409


class StoreError(AlertsError):
    """The database failed in a way the caller cannot fix (translated from SQLAlchemy)."""

    code = "store_unavailable"
    status = 503
