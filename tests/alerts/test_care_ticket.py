"""One ticket per absence, through the alerts layer: a household's fixed no-water rule and its learned
unusual-inactivity rule (group `elderly_absence`) both raise for one absence; the alerts service files them
as one ticket, and the next absence opens a new one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.service import TicketService
from alerts.tables import tickets
from core.clock import ManualClock
from tests.rules.support import T0
from tests.rules.test_routine import Life

from .fakes import FakeHierarchy

RULES = """
rules:
  - id: elderly_no_water
    kind: absence
    title: No water
    severity: major
    group: elderly_absence
    window: 12h
    min_use_m3: 0.01
    quiet_hours: true
    scope: {household_tags: [watched]}
  - id: elderly_unusual_inactivity
    kind: baseline
    title: Unusual inactivity
    severity: minor
    group: elderly_absence
    mode: inactivity
    percentile: 97
    buffer: 1h
    min_inactivity: 6h
    min_use_m3: 0.001
    min_days: 7
    scope: {household_tags: [watched]}
"""


def day(d: int, h: int) -> float:
    return 10.0 if 7 <= h <= 21 and h % 2 == 1 else 0.0


async def test_the_fixed_and_the_learned_absence_are_one_ticket(engine: AsyncEngine) -> None:
    life = Life(RULES)
    life.days(0, 14, day)
    life.days(14, 2, lambda d, h: 10.0 if d == 14 and h == 7 else 0.0)  # none after 07:00 on day 14
    life.days(16, 1, day)  # back: both clear
    life.days(17, 2, lambda d, h: 10.0 if d == 17 and h == 7 else 0.0)  # the next absence
    learned, fixed = life.raised("elderly_unusual_inactivity"), life.raised("elderly_no_water")
    assert len(learned) == len(fixed) == 2  # each rule raised for both absences
    clock = ManualClock(T0)
    hierarchy = FakeHierarchy()
    service = TicketService(engine, lambda: hierarchy, clock, channels=["hook"])
    for t, a in life.alerts:
        clock.set(t + 1)  # handed on as the reading that caused it was judged
        await service.apply([a])
    async with engine.connect() as conn:
        rows = (await conn.execute(select(tickets.c.dedup_key, tickets.c.count).order_by(tickets.c.id))).all()
    # one ticket per absence, each holding both rules' raises
    assert [tuple(r) for r in rows] == [("elderly_absence:h1", 2), ("elderly_absence:h1", 2)]
