"""The handover at shift change: whoever comes on duty in a micro-grid is sent the tickets still open there, one
message per ticket with its one-tap links (accept makes it theirs), most severe first, at most `MAX_TICKETS`.

`handover_notices` is pure. `hand_over` (run by the escalation loop every cycle) looks at the shifts that started
in the last `window_s` seconds, so a cycle missed or a restart within that window still hands over; the notices
are keyed by the shift's start, so a shift is handed over once, however many cycles see it. A shift whose
person is not on duty when it starts (replaced by a cover) hands over nothing; the cover's own shift does."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from alerts.model import Ticket
from alerts.notices import PREFERRED, Audience, Notice, NoticeSink, Recipient
from alerts.policy_notices import PERSON_ACTIONS
from alerts.store import TicketStore
from core.db import begin_write
from devices.model import DutyShift, Person
from devices.registry import Registry
from devices.roster import shifts_starting

log = logging.getLogger(__name__)

MAX_TICKETS = 20
"""Open tickets handed over per person and shift: a message each; the board has the rest."""


def handover_notices(
    started: Sequence[DutyShift],
    on_duty: Callable[[str, datetime], list[Person]],
    open_tickets: Mapping[str, Sequence[Ticket]],
    now: datetime,
) -> list[Notice]:
    """One `handover` notice per open ticket of its micro-grid for each person whose shift `started` and who is
    on duty `now`."""
    out: list[Notice] = []
    for s in started:
        person = next((p for p in on_duty(s.microgrid_id, now) if p.id == s.person_id), None)
        if person is None:
            continue
        key = f"handover:{int(s.start.timestamp())}"
        recipient = Recipient(Audience.PERSON, person.id, person.name)
        for t in list(open_tickets.get(s.microgrid_id, ()))[:MAX_TICKETS]:
            out.append(Notice(t.id, recipient, PREFERRED, "handover", PERSON_ACTIONS, key=key))
    return out


async def hand_over(
    store: TicketStore, sink: NoticeSink | None, registry: object, now: float, window_s: float = 600.0
) -> int:
    """Queue the handover of the shifts that started in (`now - window_s`, `now`]; returns how many notices
    were handed to the sink (a shift already handed over adds none to the outbox)."""
    if sink is None or not isinstance(registry, Registry):
        return 0
    until = datetime.fromtimestamp(now, UTC)
    started = shifts_starting(registry, datetime.fromtimestamp(now - window_s, UTC), until)
    if not started:
        return 0
    tickets = {mg: await store.active_in(mg, MAX_TICKETS) for mg in {s.microgrid_id for s in started}}
    notices = handover_notices(started, registry.on_duty, tickets, until)
    if notices:
        async with begin_write(store.engine) as conn:
            await sink.enqueue(conn, notices, now)
        log.info("handover: %d open tickets to %d people coming on duty", len(notices), len(started))
    return len(notices)
