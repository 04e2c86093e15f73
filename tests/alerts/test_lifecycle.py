"""The state machine, exhaustively: every (status, action, role) triple against an explicit table."""

from __future__ import annotations

import itertools

import pytest

from alerts.errors import ForbiddenError, NoteRequiredError, TransitionError
from alerts.lifecycle import Action, Status, available_actions, next_status
from devices.model import Role

S, A = Status, Action
EXPECTED: dict[tuple[Status, Action], Status] = {
    (S.OPEN, A.ACK): S.ACKNOWLEDGED,
    (S.OPEN, A.START): S.IN_PROGRESS,
    (S.ACKNOWLEDGED, A.START): S.IN_PROGRESS,
    (S.OPEN, A.RESOLVE): S.RESOLVED,
    (S.ACKNOWLEDGED, A.RESOLVE): S.RESOLVED,
    (S.IN_PROGRESS, A.RESOLVE): S.RESOLVED,
    (S.RESOLVED, A.CLOSE): S.CLOSED,
    (S.RESOLVED, A.REOPEN): S.OPEN,
    (S.OPEN, A.ASSIGN): S.OPEN,
    (S.ACKNOWLEDGED, A.ASSIGN): S.OPEN,
    (S.IN_PROGRESS, A.ASSIGN): S.OPEN,
    **{(s, A.COMMENT): s for s in Status},
    (S.RESOLVED, A.EVALUATE): S.RESOLVED,
    (S.CLOSED, A.EVALUATE): S.CLOSED,
}
LEADER_ONLY = {A.CLOSE, A.REOPEN, A.ASSIGN, A.EVALUATE}


@pytest.mark.parametrize(("status", "action", "role"), list(itertools.product(Status, Action, Role)))
def test_every_transition(status: Status, action: Action, role: Role) -> None:
    if role == Role.GRID_WORKER and action in LEADER_ONLY:
        with pytest.raises(ForbiddenError):
            next_status(status, action, role, "note")
        return
    expected = EXPECTED.get((status, action))
    if expected is None:
        with pytest.raises(TransitionError) as info:
            next_status(status, action, role, "note")
        assert not isinstance(info.value, NoteRequiredError)
    else:
        assert next_status(status, action, role, "note") == expected


@pytest.mark.parametrize("note", [None, "", "   "])
@pytest.mark.parametrize(
    ("status", "action"), [(S.OPEN, A.RESOLVE), (S.IN_PROGRESS, A.RESOLVE), (S.RESOLVED, A.REOPEN), (S.OPEN, A.COMMENT)]
)
def test_note_required(status: Status, action: Action, note: str | None) -> None:
    with pytest.raises(NoteRequiredError):
        next_status(status, action, Role.MICROGRID_LEADER, note)


def test_ack_needs_no_note() -> None:
    assert next_status(S.OPEN, A.ACK, Role.GRID_WORKER) == S.ACKNOWLEDGED


def test_active_statuses() -> None:
    assert {s for s in Status if s.active} == {S.OPEN, S.ACKNOWLEDGED, S.IN_PROGRESS}


def test_available_actions_match_next_status() -> None:
    for status, role in itertools.product(Status, Role):
        offered = set(available_actions(status, role))
        for action in Action:
            try:
                next_status(status, action, role, "n")
                ok = True
            except (ForbiddenError, TransitionError):
                ok = False
            assert (action in offered) == ok, (status, role, action)
