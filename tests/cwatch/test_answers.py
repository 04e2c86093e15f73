"""A person's answer to an absence alert goes back to the rule engine: resolving the ticket ("visited") clears
the absence and restarts its clock, so the next twelve dry hours raise a new alert; without the answer the
engine keeps waiting and raises nothing more."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from alerts.actionlinks import ActionLinks
from alerts.audit import Who
from alerts.away import HouseholdAways
from alerts.linkactions import LinkActions
from alerts.model import Account
from alerts.notices import Audience, Recipient
from alerts.service import NullNotifier, TicketService
from alerts.store import create_tables as alerts_tables
from core.clock import ManualClock
from core.db import make_engine
from cwatch.answers import AbsenceAnswers
from devices.model import Role
from rules.alert import Alert, AlertAction
from rules.engine import Engine
from rules.runner import RuleRunner
from rules.state import RuleStateStore
from rules.state import create_tables as rules_tables
from tests.rules.support import T0, H, reading, registry, ruleset

ABSENCE = """
rules:
  - id: elderly_no_water
    kind: absence
    title: No water
    severity: major
    window: 12h
    min_use_m3: 0.01
    scope: {household_tags: [watched]}
"""

LEADER = Account(id=1, username="li", role=Role.MICROGRID_LEADER, scope_id="mg1", display_name="李")


async def run(tmp_path: Path, *, answer: bool, store_down_for: int = 0, by_family: bool = False) -> list[Alert]:
    """`store_down_for`: hand-offs to the ticket store that fail once the ticket is resolved; `by_family`: the
    answer is a family member's "all is well" from a one-tap link instead of a leader's resolve."""
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await alerts_tables(db)
    await rules_tables(db)
    reg = registry()
    clock = ManualClock(T0)
    seen: list[Alert] = []
    engine = Engine(ruleset(ABSENCE, reg), reg, allowed_lateness_s=0)
    answers = AbsenceAnswers(NullNotifier(), engine)
    tickets = TicketService(db, lambda: reg, clock, answers)

    down = 0

    async def sink(alerts: list[Alert]) -> None:
        nonlocal down
        if down > 0:
            down -= 1
            raise ConnectionError("ticket store unreachable")
        seen.extend(alerts)
        await tickets.apply(alerts)

    runner = RuleRunner(engine, RuleStateStore(db), clock, sink)
    handing_over = asyncio.create_task(answers.run(runner))

    volume = 50.0
    for hour in range(6, 6 + 24):  # water at 07:00, then a dry day
        volume += 0.05 if hour == 7 else 0.0
        clock.set(T0 + hour * H)
        await runner.on_readings([reading(reg, "WM1", "telemetry", T0 + hour * H, volume_m3=round(volume, 4))])
    [raised] = [a for a in seen if a.action is AlertAction.RAISE]
    [ticket] = (await tickets.list_tickets(LEADER)).items
    if answer:
        down = store_down_for
        if by_family:
            links = ActionLinks(db)
            son = Recipient(Audience.FAMILY, "h1#王伟", "王伟")
            token = await links.mint(ticket.id, son, "all_well", "sms", "d-1", clock.now())
            resolved = await LinkActions(tickets, links).act(ticket.id, token)
            assert resolved.resolved_by == "family:王伟"
        else:
            await tickets.resolve(ticket.id, LEADER, "上门看过，老人安好 visited, all well")
        await answers.drain()
        assert down == 0
    for hour in range(6 + 24, 6 + 24 + 16):  # still dry: 16 more hours
        clock.set(T0 + hour * H)
        await runner.on_readings([reading(reg, "WM1", "telemetry", T0 + hour * H, volume_m3=round(volume, 4))])
    handing_over.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await handing_over
    await db.dispose()
    assert raised.rule_id == "elderly_no_water"
    return seen


async def test_visited_restarts_the_absence_clock(tmp_path: Path) -> None:
    seen = await run(tmp_path, answer=True)
    assert [a.action for a in seen] == [AlertAction.RAISE, AlertAction.CLEAR, AlertAction.RAISE]


async def test_without_an_answer_the_engine_waits(tmp_path: Path) -> None:
    seen = await run(tmp_path, answer=False)
    assert [a.action for a in seen] == [AlertAction.RAISE]


async def test_an_answer_that_could_not_be_handed_over_is_tried_again(tmp_path: Path) -> None:
    """The ticket store is unreachable for the first two hand-overs of the clear: the runner undoes them, and
    the answer is handed over again until it takes, so the next dry spell still raises."""
    seen = await run(tmp_path, answer=True, store_down_for=2)
    assert [a.action for a in seen] == [AlertAction.RAISE, AlertAction.CLEAR, AlertAction.RAISE]


async def test_a_familys_all_is_well_restarts_the_absence_clock_as_a_visit_does(tmp_path: Path) -> None:
    seen = await run(tmp_path, answer=True, by_family=True)
    assert [a.action for a in seen] == [AlertAction.RAISE, AlertAction.CLEAR, AlertAction.RAISE]


async def test_a_start_hands_over_only_the_aways_the_engine_and_the_store_disagree_on(tmp_path: Path) -> None:
    """`reconcile`: an away recorded and never handed over is queued, one ended in the store and still held is
    queued as "back"; once they agree, or for a household no absence rule watches, nothing is."""
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await alerts_tables(db)
    reg = registry()
    engine = Engine(ruleset(ABSENCE, reg), reg, allowed_lateness_s=0)
    answers = AbsenceAnswers(NullNotifier(), engine)
    aways = HouseholdAways(db)
    now, who = T0, Who("li", "test")
    assert await answers.reconcile(aways, now) == 0
    away = await aways.set("h1", now + 48 * H, "住院", who, now)
    await aways.set("h2", now + 48 * H, "探亲", who, now)  # a family: no absence rule watches it
    assert await answers.reconcile(aways, now) == 1
    engine.acknowledge_absence("h1", away.until)  # what the queued answer does
    assert await answers.reconcile(aways, now) == 0
    await aways.end("h1", who, now + H)  # ended, the end never handed over
    assert await answers.reconcile(aways, now + H) == 1
    engine.acknowledge_absence("h1", None)
    assert await answers.reconcile(aways, now + H) == 0
    await db.dispose()
