"""The ticket state machine: statuses, the actions people take, which role may take which, and where each
action leads. Pure: no I/O, no clock, so it is tested exhaustively and every other module asks it.

    open ──ack──> acknowledged ──start──> in_progress ──resolve──> resolved ──close──> closed
      │  └────────────start──────────────────^               ^        │
      └───────────────resolve (note)─────────────────────────┘        └──reopen (note)──> open

`assign` hands an active ticket to someone else and puts it back to `open`, because dispatch (派单) is only
complete when the new assignee accepts (接单 = acknowledge). `comment` never changes the status, nor does
`evaluate`, which records the resident's rating of finished work (评单) on a resolved or closed ticket.
"""

from __future__ import annotations

import functools
from enum import StrEnum

from alerts.errors import ForbiddenError, NoteRequiredError, TransitionError
from core.i18n import Text, tr
from devices.model import Role


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def active(self) -> bool:
        """Active tickets are the ones a repeat of the same dedup key updates (at most one per key)."""
        return self in ACTIVE


ACTIVE = frozenset({Status.OPEN, Status.ACKNOWLEDGED, Status.IN_PROGRESS})


class Action(StrEnum):
    """What a person does to a ticket (the API's verbs)."""

    ACK = "ack"
    START = "start"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    COMMENT = "comment"
    ASSIGN = "assign"
    EVALUATE = "evaluate"  # the resident's evaluation (评单), recorded by a leader after calling back


class SystemAction(StrEnum):
    """What the service itself records in the audit trail."""

    RAISE = "raise"  # ticket created by an alert
    VERIFY = "verify"  # an alarm began its verification wait: ticket created (nobody told yet) or one joined
    CONFIRM = "confirm"  # the verification wait ended without a cancel: the alarm stands
    CANCEL = "cancel"  # the alarm was withdrawn during its verification wait (a ticket with nothing else closes)
    JOIN = "join"  # another rule of the ticket's group fired about the same device or household
    REPEAT = "repeat"  # the same condition fired again on the open ticket
    CLEAR_PART = "clear_part"  # one of the ticket's conditions cleared, another still holds
    CLEAR = "clear"  # the rule's clear condition held (the last live condition of the ticket)
    AUTO_RESOLVE = "auto_resolve"  # resolved by a clear (see `alerts.service.ClearPolicy`)
    ESCALATE = "escalate"  # an SLA deadline passed
    AUTO_ASSIGN = "auto_assign"  # dispatched to the worker on duty / the leader


_WORKERS = frozenset(Role)
_LEADERS = frozenset({Role.MICROGRID_LEADER, Role.COMMUNITY_DUTY, Role.STREET_DUTY, Role.OPERATOR})

#: Which roles may take each action (inside their scope; scope is checked by the service).
ALLOWED_ROLES: dict[Action, frozenset[Role]] = {
    Action.ACK: _WORKERS,
    Action.START: _WORKERS,
    Action.RESOLVE: _WORKERS,
    Action.COMMENT: _WORKERS,
    Action.CLOSE: _LEADERS,  # closing confirms the work was done: someone other than the worker checks
    Action.REOPEN: _LEADERS,
    Action.ASSIGN: _LEADERS,
    Action.EVALUATE: _LEADERS,
}

#: From which statuses each action is possible.
SOURCES: dict[Action, frozenset[Status]] = {
    Action.ACK: frozenset({Status.OPEN}),
    Action.START: frozenset({Status.OPEN, Status.ACKNOWLEDGED}),
    Action.RESOLVE: ACTIVE,
    Action.CLOSE: frozenset({Status.RESOLVED}),
    Action.REOPEN: frozenset({Status.RESOLVED}),
    Action.COMMENT: frozenset(Status),
    Action.ASSIGN: ACTIVE,
    Action.EVALUATE: frozenset({Status.RESOLVED, Status.CLOSED}),
}

_TARGET: dict[Action, Status | None] = {
    Action.ACK: Status.ACKNOWLEDGED,
    Action.START: Status.IN_PROGRESS,
    Action.RESOLVE: Status.RESOLVED,
    Action.CLOSE: Status.CLOSED,
    Action.REOPEN: Status.OPEN,
    Action.COMMENT: None,  # unchanged
    Action.ASSIGN: Status.OPEN,
    Action.EVALUATE: None,  # unchanged
}

#: Actions that must carry a note: a resolution says what was done, a reopen says why, a comment is its note.
NOTE_REQUIRED = frozenset({Action.RESOLVE, Action.REOPEN, Action.COMMENT})


def may(role: Role, action: Action) -> bool:
    return role in ALLOWED_ROLES[action]


def _verb(action: Action) -> Text:
    return tr(f"names.action.{action.value}")


def next_status(status: Status, action: Action, role: Role, note: str | None = None) -> Status:
    """The status after `role` takes `action` on a ticket in `status`.

    Raises `ForbiddenError` if the role may not take the action at all, `TransitionError` if the action is not
    possible from `status`, `NoteRequiredError` if a required note is missing or blank."""
    if not may(role, action):
        raise ForbiddenError(tr("errors.role_may_not", role=tr(f"names.role.{role.value}"), action=_verb(action)))
    if status not in SOURCES[action]:
        raise TransitionError(
            tr("errors.cannot_from_status", action=_verb(action), status=tr(f"names.status.{status.value}"))
        )
    if action in NOTE_REQUIRED and not (note and note.strip()):
        raise NoteRequiredError(tr("errors.note_required", action=_verb(action)))
    target = _TARGET[action]
    return status if target is None else target


def available_actions(status: Status, role: Role) -> list[Action]:
    """Actions the board should offer for a ticket in `status` to a viewer with `role` (a new list each call)."""
    return list(_offered(status, role))


@functools.cache
def _offered(status: Status, role: Role) -> tuple[Action, ...]:
    """`available_actions`, worked out once per status and role: every listed ticket asks (500 per board page)."""
    return tuple(a for a in Action if may(role, a) and status in SOURCES[a])
