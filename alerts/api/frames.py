"""The live stream's ticket frames, rendered once per change and shared by every board that may see it.

A frame depends on its viewer only through the actions the viewer's role may take (`available_actions`); the
rest (the ticket as the list shows it, with display names, encoded by `alerts.api.rows`; and the event) is the
same for every board. In an alert storm every change goes to every connected board, so each is rendered once, as
JSON without its actions, and each role's frame adds its own. Whether a board may see the ticket at all is
decided for each board before it asks (`TicketService.can_see`): boards share the rendering, never that decision.
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from alerts.api.rows import Display, encode_row
from alerts.api.views import event_out, people_names
from alerts.lifecycle import Status, available_actions
from alerts.model import Account, Ticket, TicketEvent
from alerts.scope import Hierarchy
from devices.model import Role

__all__ = ["TicketFrames"]


@dataclass(slots=True)
class _Rendered:
    """One change, rendered: the frame is `head` + the role's actions as JSON + `tail`."""

    ticket: Ticket
    hierarchy: Hierarchy
    head: str
    tail: str
    by_role: dict[Role, str] = field(default_factory=dict)


class TicketFrames:
    """The SSE frames (`event: ticket`) of recent changes, by event id. `size` bounds how many are kept: boards
    read a change within their queue's length of one another (`ChangeHub.maxsize`), or are told to resync."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._done: OrderedDict[int, _Rendered] = OrderedDict()
        self.rendered = 0  # changes rendered (not taken from the cache), for tests and curiosity
        # what rendering reads from the registry, worked out once per registry (a reload makes a new one)
        self._of: Hierarchy | None = None
        self._display: Display | None = None
        self._names: dict[str, dict[str, str]] = {}

    def frame(
        self, hierarchy: Hierarchy, viewer: Account, ticket: Ticket, event: TicketEvent, now: Callable[[], float]
    ) -> str:
        """The frame of (`ticket`, `event`) for `viewer`, who may see the ticket (the caller checked)."""
        r = self._done.get(event.id)
        if r is None or r.ticket is not ticket or r.hierarchy is not hierarchy:  # another change, or registry
            r = self._render(hierarchy, viewer, ticket, event, now())
            self._done[event.id] = r
            if len(self._done) > self.size:
                self._done.popitem(last=False)
        out = r.by_role.get(viewer.role)
        if out is None:
            out = r.by_role[viewer.role] = r.head + _actions(ticket.status, viewer.role) + r.tail
        return out

    def _render(
        self, hierarchy: Hierarchy, viewer: Account, ticket: Ticket, event: TicketEvent, now: float
    ) -> _Rendered:
        self.rendered += 1
        if self._of is not hierarchy or self._display is None:
            self._of, self._display, self._names = hierarchy, Display(hierarchy), {}
        names = self._names.get(ticket.microgrid_id)
        if names is None:
            names = self._names[ticket.microgrid_id] = people_names(hierarchy, ticket.microgrid_id)
        row = self._display.row(ticket, now, names, msgspec.UNSET)
        body = encode_row(row).decode()  # '{...}' without the actions: they go in before its closing brace
        head = f'id: {event.id}\nevent: ticket\ndata: {{"ticket": {body[:-1]}, "actions": '
        return _Rendered(ticket, hierarchy, head, f'}}, "event": {event_out(event).model_dump_json()}}}\n\n')


@functools.cache
def _actions(status: Status, role: Role) -> str:
    """The JSON of the actions `role` may take on a ticket in `status`."""
    return json.dumps([a.value for a in available_actions(status, role)])
