"""The one path back from tickets to rules: a person's answer to an absence alert.

An absence alert (no water use by a lone elderly resident) waits for a person's answer instead of repeating
every window. When a person resolves or closes its ticket ("visited"), or records that the household is away,
the rule engine is told, so it clears the absence and restarts its clock. The answer is handed over in a
background task after the ticket change is committed: the rule runner may itself be busy handing alerts to the
ticket service, and waiting for it here could deadlock.

The loop tickets → answers → runner → tickets is the one cycle between the service's parts. It is cut here: the
answers are the ticket service's notifier, so they are made before it, and before the runner that hands its
alerts to that service; they take the rule engine (which rules wait for an answer, the event time of an answer)
and are given the runner only when they run (`run`), which queues nothing but hands over what was queued.
"""

from __future__ import annotations

import asyncio
import logging

from alerts.away import HouseholdAways
from alerts.model import SYSTEM_ACTOR, Ticket, TicketEvent
from alerts.service import Notifier
from ingest.backoff import backoff_delay
from rules.engine import Engine
from rules.runner import RuleRunner, absence_rule_ids

log = logging.getLogger("cwatch.answers")

ANSWER_ACTIONS = frozenset({"resolve", "close"})
RETRY_INITIAL_S = 1.0
RETRY_MAX_S = 60.0
RETRY_ATTEMPTS = 30  # about 25 minutes: an outage of the ticket store, not a bug, is what retries are for


class AbsenceAnswers:
    """A ticket notifier that passes on every change and hands answered absences to the rule runner."""

    def __init__(self, inner: Notifier, engine: Engine) -> None:
        self.inner = inner
        self.engine = engine
        self._queue: asyncio.Queue[tuple[str, float | None, float | None]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()

    async def ticket_changed(self, ticket: Ticket, event: TicketEvent) -> None:
        await self.inner.ticket_changed(ticket, event)
        if (
            event.action in ANSWER_ACTIONS
            and event.actor != SYSTEM_ACTOR
            and ticket.household_id is not None
            and ticket.rule_id in absence_rule_ids(self.engine)
        ):
            self.answer(ticket.household_id, None)

    def answer(self, household_id: str, until: float | None) -> None:
        at = self.engine.watermark  # when it was answered, in event time (a retry comes later)
        self._queue.put_nowait((household_id, until, at))

    async def reconcile(self, aways: HouseholdAways, now: float) -> int:
        """Start-up: make the rule engine's aways agree with the store's record of them. An away is saved, then
        handed to the engine, whose state is saved later: a crash in between leaves the store holding an away
        (or its end) that the restored engine never heard of, and nothing would hand it again, so the household
        would be watched while recorded away (or left unwatched after it came back). Each difference is queued
        as the answer the API gives: away until the recorded date, or back ("visited"). Returns how many."""
        recorded = {a.household_id: a.until for a in await aways.active(now)}
        queued = 0
        for household_id, held in self.engine.away_answers().items():  # households the absence rules watch
            until = recorded.get(household_id)
            if until is not None and held != until:
                self.answer(household_id, until)  # saved, never handed over
            elif until is None and held is not None and held > now:
                self.answer(household_id, None)  # ended in the store, the end never handed over
            else:
                continue
            queued += 1
        if queued:
            log.warning("%d aways differed between the store and the rule engine's state; handed over again", queued)
        return queued

    async def run(self, runner: RuleRunner) -> None:
        """Hand each answer to `runner`, each in a task of its own (one that keeps failing holds back no other),
        until cancelled."""
        while True:
            household_id, until, at = await self._queue.get()
            task = asyncio.get_running_loop().create_task(self._answer(runner, household_id, until, at))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self._queue.task_done()

    async def _answer(self, runner: RuleRunner, household_id: str, until: float | None, at: float | None) -> None:
        """Hand the answer over until it takes. A failed hand-over (the clear could not reach the ticket store,
        or the state could not be saved) is undone by the runner; nothing else would ever send the answer
        again, and without it the absence stays open and the household's next dry spell is never alerted."""
        attempt = 0
        while True:
            try:
                await runner.answer_absence(household_id, until, at)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                if attempt + 1 >= RETRY_ATTEMPTS:  # a bug, not an outage: stop retrying, say so loudly
                    log.exception("answer for household %s dropped after %d attempts", household_id, RETRY_ATTEMPTS)
                    return
                delay = backoff_delay(attempt, initial=RETRY_INITIAL_S, cap=RETRY_MAX_S)
                attempt += 1
                log.exception(
                    "could not pass the answer for household %s to the rule engine (attempt %d); again in %.1f s",
                    household_id,
                    attempt,
                    delay,
                )
                await runner.clock.sleep(delay)

    async def drain(self) -> None:
        """Wait for answers queued or in flight (tests, shutdown); `run` must be running."""
        await self._queue.join()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
