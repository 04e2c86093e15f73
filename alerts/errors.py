"""The one exception hierarchy of `alerts`. The API maps each class to an HTTP status, so callers never see
SQLAlchemy or FastAPI errors from this package."""

from __future__ import annotations

from core.errors import CwatchError


class AlertsError(CwatchError):
    """Base of every error raised by `alerts`. `code` is the stable machine-readable name sent to clients."""

    code = "alerts_error"
    status = 400
    #: What a client is told of a server-side failure (status >= 500); the message, with its cause, is logged.
    public_message = "the service failed; try again later"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def message_for(self, languages: str) -> str:
        """The message for a caller whose `Accept-Language` is `languages` (errors that carry a Chinese text
        override this; the others have one)."""
        return self.message


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
    public_message = "the database is unavailable; try again later"


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


class LocalizedError(AlertsError):
    """An error a person acts on at once (a refused upload): its message in Chinese and English, the one the
    caller's `Accept-Language` prefers chosen by the API (English when it names neither first)."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh

    def message_for(self, languages: str) -> str:
        return self.zh if prefers_chinese(languages) else self.message


def prefers_chinese(languages: str) -> bool:
    """Whether an `Accept-Language` value ranks Chinese above English (missing q counts as 1)."""
    best: dict[str, float] = {}
    for part in languages.split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = tag.strip().lower().split("-")[0]
        if lang in ("zh", "en") and q > best.get(lang, -1.0):
            best[lang] = q
    return best.get("zh", -1.0) > best.get("en", -1.0) if best else False


class UploadError(LocalizedError):
    """A photo refused before anything is stored: too large, not a picture, unreadable. `code` names why."""

    status = 422

    def __init__(self, code: str, zh: str, en: str, *, status: int = 422) -> None:
        super().__init__(zh, en)
        self.code = f"photo_{code}"
        self.status = status

    @classmethod
    def too_large(cls, size: int, limit: int) -> UploadError:
        mb = limit / 1024**2
        return cls(
            "too_large",
            f"照片太大（{size / 1024**2:.1f} MB），最大 {mb:g} MB",
            f"the photo is too large ({size / 1024**2:.1f} MB); at most {mb:g} MB",
            status=413,
        )


class PhotoRequiredError(LocalizedError, ValidationError):
    """Resolving this ticket needs a photo of the scene attached first (`media.photo_required_*`)."""

    code = "photo_required"
