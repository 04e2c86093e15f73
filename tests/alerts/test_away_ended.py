"""Water use that ends an away in the rules (`away_ends_on_use`) ends the away's record too: the board no longer
shows the household away, and the audit log says the rules ended it because water was used. The registry's away
(households.csv) is recorded as ended, with the reading that showed the use, and the registry left as it is."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.audit import AuditLog, Who
from alerts.away import Away, HouseholdAways, NotAwayError, UseSeen
from alerts.service import TicketService
from alerts.tables import tickets
from core.clock import ManualClock
from rules.alert import AWAY_ENDED, Alert, AlertAction, Severity

from .fakes import FakeHierarchy

NOW = 100_000.0
WORKER = Who("worker", "198.51.100.4", "grid_worker")


def _ended(used_at: float, household: str = "h1", registry_until: float | None = None) -> Alert:
    """What an absence rule with `away_ends_on_use` sends when a use ends an away (`rules.kinds.absence`);
    `registry_until`: the registry's away it ended too."""
    details = {"signal": AWAY_ENDED, "used_at": used_at, "read_at": used_at + 900, "was_until": used_at + 86_400}
    if registry_until is not None:
        details["registry_until"] = registry_until
    return Alert(
        AlertAction.CLEAR,
        "elderly_no_water",
        f"elderly_no_water:{household}:{AWAY_ENDED}",
        Severity.INFO,
        used_at,
        "M1",
        "away ended by water use",
        device_id="WM1",
        household_id=household,
        details=details,
    )


async def test_water_use_ends_the_away_record_audited_and_files_no_ticket(sqlite_engine: AsyncEngine) -> None:
    clock = ManualClock(NOW)
    hierarchy = FakeHierarchy()
    service = TicketService(sqlite_engine, lambda: hierarchy, clock)
    aways = HouseholdAways(sqlite_engine)
    await aways.set("h1", NOW + 10 * 86_400, "住院 hospital", WORKER, NOW)
    await aways.set("h2", NOW + 10 * 86_400, "trip", WORKER, NOW)
    clock.set(NOW + 2 * 86_400)

    assert await service.apply([_ended(NOW + 86_400), _ended(NOW - 3600, "h2")]) == []

    assert await aways.get("h1", clock.now()) is None  # the board shows h1 at home again
    kept = await aways.get("h2", clock.now())  # that use came before h2's away was recorded: it stays
    assert kept is not None
    assert kept.reason == "trip"
    [entry] = await AuditLog(sqlite_engine).list(action="household.away_end")
    assert (entry.actor, entry.source, entry.target) == ("system", "rules", "h1")
    assert entry.details["reason"] == "water used"
    assert entry.details["used_at"] == NOW + 86_400
    assert entry.details["was_until"] == NOW + 10 * 86_400
    async with sqlite_engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(tickets))).scalar_one() == 0


async def test_water_use_that_ends_the_registrys_away_is_recorded_once_audited_and_files_no_ticket(
    sqlite_engine: AsyncEngine,
) -> None:
    clock = ManualClock(NOW)
    hierarchy = FakeHierarchy()
    service = TicketService(sqlite_engine, lambda: hierarchy, clock)
    aways = HouseholdAways(sqlite_engine)
    listed = NOW + 20 * 86_400  # households.csv's away_until
    assert await aways.registry_end("h1", listed) is None  # in force

    assert await service.apply([_ended(NOW + 3600, registry_until=listed)]) == []
    clock.set(NOW + 7200)
    assert await service.apply([_ended(NOW + 3600, registry_until=listed)]) == []  # judged again after a restart

    end = await aways.registry_end("h1", listed)
    assert end is not None
    assert (end.used_at, end.device_id, end.read_at, end.ended_at) == (NOW + 3600, "WM1", NOW + 4500, NOW)
    assert await aways.registry_end("h1", listed + 86_400) is None  # another date: an away not ended
    [entry] = await AuditLog(sqlite_engine).list(action="household.away_end")
    assert (entry.actor, entry.source, entry.target) == ("system", "rules", "h1")
    assert entry.details == {
        "registry": True,
        "was_until": listed,
        "reason": "water used",
        "used_at": NOW + 3600,
        "device_id": "WM1",
        "read_at": NOW + 4500,
    }
    async with sqlite_engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(tickets))).scalar_one() == 0


async def test_the_registrys_away_is_recorded_ended_once_when_told_twice_at_once(engine: AsyncEngine) -> None:
    """Two services (or a replay racing the live hand-off) told of the same end at once record it once, with
    one audit row, on SQLite and on PostgreSQL; a later away of the registry (another date) is recorded anew."""
    aways = HouseholdAways(engine)
    listed = NOW + 20 * 86_400
    use = UseSeen(NOW + 3600, "WM1", NOW + 4500)
    told = await asyncio.gather(*(aways.registry_ended_by_use("h1", listed, use, NOW + i) for i in range(4)))
    assert sorted(told) == [False, False, False, True]
    [entry] = await AuditLog(engine).list(action="household.away_end")
    assert entry.details["was_until"] == listed

    later = UseSeen(NOW + 40 * 86_400, "WM1", None)
    assert await aways.registry_ended_by_use("h1", listed + 30 * 86_400, later, NOW + 9)
    end = await aways.registry_end("h1", listed + 30 * 86_400)
    assert end is not None
    assert (end.used_at, end.read_at, end.ended_at) == (later.used_at, None, NOW + 9)
    assert await aways.registry_end("h1", listed) is None  # one record per household: the latest away's
    assert len(await AuditLog(engine).list(action="household.away_end")) == 2


async def test_an_away_ended_by_two_hands_at_once_is_ended_and_audited_once(engine: AsyncEngine) -> None:
    """The rules' signal handed over twice, or a worker's 已回家 meeting it: one of them ends the away and is
    audited, the other ends nothing (a worker is told it is not away), on SQLite and on PostgreSQL."""
    aways = HouseholdAways(engine)
    await aways.set("h1", NOW + 10 * 86_400, "trip", WORKER, NOW)
    use = UseSeen(NOW + 3600, "WM1", NOW + 4500)
    ended = await asyncio.gather(*(aways.ended_by_use("h1", use, NOW + 7200) for _ in range(3)))
    assert sum(e is not None for e in ended) == 1
    assert len(await AuditLog(engine).list(action="household.away_end")) == 1

    await aways.set("h2", NOW + 10 * 86_400, "trip", WORKER, NOW)
    told = await asyncio.gather(
        aways.end("h2", WORKER, NOW + 7200),
        aways.end("h2", WORKER, NOW + 7200),
        aways.ended_by_use("h2", use, NOW + 7200),
        return_exceptions=True,
    )
    assert sum(isinstance(t, Away) for t in told) == 1, told
    assert len(await AuditLog(engine).list(action="household.away_end")) == 2


async def test_ending_an_away_leaves_one_set_meanwhile(engine: AsyncEngine) -> None:
    """已回家 for the away the worker saw does not end another set for the household in the meantime."""
    aways = HouseholdAways(engine)
    first = await aways.set("h1", NOW + 10 * 86_400, "trip", WORKER, NOW)
    read = HouseholdAways.get

    async def set_meanwhile(self: HouseholdAways, household_id: str, now: float) -> Away | None:
        seen = await read(self, household_id, now)
        await aways.set("h1", NOW + 3 * 86_400, "hospital", WORKER, NOW + 60)
        return seen

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(HouseholdAways, "get", set_meanwhile)
        with pytest.raises(NotAwayError):
            await aways.end("h1", WORKER, NOW + 120)
    kept = await aways.get("h1", NOW + 120)
    assert kept is not None
    assert (kept.reason, first.reason) == ("hospital", "trip")
