"""The one exception hierarchy of `alerts`. The API maps each class to an HTTP status, so callers never see
SQLAlchemy or FastAPI errors from this package. What a person reads is a catalog message (`core.i18n.tr`), which
the API renders in the caller's language."""

from __future__ import annotations

from core.errors import CwatchError
from core.i18n import Text, localized, tr


class AlertsError(CwatchError):
    """Base of every error raised by `alerts`. `code` is the stable machine-readable name sent to clients."""

    code = "alerts_error"
    status = 400
    #: What a client is told of a server-side failure (status >= 500); the message, with its cause, is logged.
    public_message: str = tr("errors.server_failed")

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def message_for(self, lang: str) -> str:
        """The message in `lang` (`core.i18n.LANGS`): a catalog `Text` is rendered in it, a plain string (a
        reason from a dependency) is returned as it is."""
        return localized(self.message, lang)


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
    public_message: str = tr("errors.store_unavailable")


class ValidationError(AlertsError):
    """Input that passed the schema but not the rules (bad cursor, weak password, invalid silence...)."""

    code = "invalid"
    status = 422


class PasswordPolicyError(ValidationError):
    code = "weak_password"


class ScopeLevelError(ValidationError):
    """An account's scope is not a node at a level its role answers for (a leader scoped to a community)."""

    code = "invalid_scope"


class InvalidCursorError(ValidationError):
    code = "invalid_cursor"


class AssignError(ValidationError):
    code = "assignee_required"


class InvalidAssigneeError(ValidationError):
    """Tickets go only to people who work in or above the owning micro-grid."""

    code = "invalid_assignee"


class RatingError(ValidationError):
    code = "rating_required"


class BulkAssignError(ValidationError):
    code = "invalid_bulk_action"


class SilenceError(ValidationError):
    code = "invalid_silence"


class SilenceDuplicateError(ConflictError):
    """An identical silence (same scope, rule and device) already covers part of the window."""

    code = "duplicate_silence"


class SilencePermissionError(ForbiddenError):
    """Only leaders and above may silence, and only inside their own scope."""


class TooManyAttemptsError(AlertsError):
    """Login attempts under this username or from this address must wait `retry_after` seconds."""

    code = "too_many_attempts"
    status = 429

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeliveryError(AlertsError):
    """A notification channel could not deliver; the dispatcher retries later. `details` say what was tried
    (the channel, a masked address) for the ticket's timeline."""

    code = "delivery_failed"
    status = 502

    def __init__(self, message: str, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.details = dict(details or {})


class UndeliverableError(DeliveryError):
    """A delivery no retry can help (the recipient has no usable contact point): given up at once."""

    code = "undeliverable"


class LinkRefusedError(AlertsError):
    """A one-tap action link that cannot act: unknown, used, expired, for another ticket, or the ticket moved on.
    `reason` is one of `alerts.actionlinks.REASONS`; the phone page shows why."""

    status = 410

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.code = f"link_{reason}"
        if reason == "unknown":
            self.status = 404


class UploadError(ValidationError):
    """A photo refused before anything is stored: too large, not a picture, unreadable. `code` names why."""

    def __init__(self, code: str, message: Text, *, status: int = 422) -> None:
        super().__init__(message)
        self.code = f"photo_{code}"
        self.status = status

    @classmethod
    def too_large(cls, size: int, limit: int) -> UploadError:
        return cls(
            "too_large",
            tr("errors.photo_too_large", size=f"{size / 1024**2:.1f}", limit=f"{limit / 1024**2:g}"),
            status=413,
        )


class PhotoRequiredError(ValidationError):
    """Resolving this ticket needs a photo of the scene attached first (`media.photo_required_*`)."""

    code = "photo_required"


class PolicyConfigError(AlertsError):
    """An escalation policy file that must not be loaded. `problems` holds every problem found, each spelled
    "policies.yaml:12: policies[1].steps[0].targets[0]: unknown target 'boss'", sorted by line."""

    code = "invalid_policies"
    status = 422

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0] if len(problems) == 1 else f"{problems[0]} (and {len(problems) - 1} more)")
        self.problems = problems
