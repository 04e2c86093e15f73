"""Silences: matching (pure), who may create them, suppression in the service, the API."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.errors import NotFoundError, SilenceError, SilencePermissionError
from alerts.service import TicketService
from alerts.silences import Silence, matches
from core.clock import ManualClock
from rules.alert import AlertAction, Severity

from .fakes import COMMUNITY, GRID_G2, LEADER_M1, OPERATOR, WORKER_M1, FakeHierarchy, alert

H = FakeHierarchy()


def silence(scope: str = "M1", rule: str | None = None, device: str | None = None) -> Silence:
    return Silence(1, scope, rule, device, 0.0, 100.0, "消防演练", "l1", 0.0)


@pytest.mark.parametrize(
    ("s", "a", "expected"),
    [
        (silence("M1"), alert(microgrid="M1"), True),
        (silence("G1"), alert(microgrid="M2"), True),
        (silence("G1"), alert(microgrid="M3"), False),
        (silence("M1", rule="trash_full"), alert(rule="smoke_alarm"), False),
        (silence("M1", device="d9"), alert(key="smoke_alarm:d1"), False),
        (silence("M1", device="d1"), alert(key="smoke_alarm:d1"), True),
        # a silence without a rule never hides a critical alert; naming the rule does
        (silence("M1"), alert(severity=Severity.CRITICAL), False),
        (silence("M1", rule="smoke_alarm"), alert(severity=Severity.CRITICAL), True),
    ],
)
def test_matching(s: Silence, a: object, expected: bool) -> None:
    assert matches(s, a, H) is expected  # type: ignore[arg-type]


async def test_silenced_raises_open_no_ticket(engine: AsyncEngine) -> None:
    clock = ManualClock(1_000.0)
    service = TicketService(engine, lambda: H, clock)
    [active] = await service.apply([alert(key="trash_full:t2", rule="trash_full")])
    s = await service.silences.create(LEADER_M1, H, clock.now(), scope_id="M1", ends_at=1_600, comment="清运车维修")
    changed = await service.apply(
        [
            alert(key="trash_full:t1", rule="trash_full"),  # silenced
            alert(key="trash_full:t2", rule="trash_full"),  # its ticket is already active: still counted
            alert(key="x:m2", microgrid="M2"),  # outside the silence
            alert(key="trash_full:t2", rule="trash_full", action=AlertAction.CLEAR),  # clears pass
        ]
    )
    assert [t.dedup_key for t in changed] == ["trash_full:t2", "x:m2", "trash_full:t2"]
    assert changed[0].id == active.id
    assert changed[0].count == 2
    [listed] = await service.silences.visible(LEADER_M1, H, clock.now())
    assert listed.suppressed == 1
    clock.set(1_600)  # the window is over
    [t] = await service.apply([alert(key="trash_full:t1", rule="trash_full")])
    assert t.dedup_key == "trash_full:t1"
    # cancelled silences stop at once
    await service.silences.create(OPERATOR, H, clock.now(), scope_id="S1", ends_at=5_000, comment="系统升级")
    assert await service.apply([alert(key="q:1")]) == []
    [s2] = await service.silences.visible(OPERATOR, H, clock.now())
    await service.silences.cancel(OPERATOR, H, s2.id, clock.now())
    assert len(await service.apply([alert(key="q:1")])) == 1
    assert s.id != s2.id


async def test_who_may_silence(engine: AsyncEngine) -> None:
    clock = ManualClock(0.0)
    service = TicketService(engine, lambda: H, clock)
    store = service.silences
    with pytest.raises(SilencePermissionError):
        await store.create(WORKER_M1, H, 0.0, scope_id="M1", ends_at=60, comment="x")
    with pytest.raises(SilencePermissionError):
        await store.create(LEADER_M1, H, 0.0, scope_id="M2", ends_at=60, comment="x")
    with pytest.raises(SilencePermissionError):
        await store.create(LEADER_M1, H, 0.0, scope_id="G1", ends_at=60, comment="x")
    for bad in [
        {"ends_at": 60, "comment": "  "},
        {"ends_at": 8 * 86_400, "comment": "too long"},
        {"ends_at": 10, "comment": "ends before start", "starts_at": 20},
        {"ends_at": -5, "comment": "in the past", "starts_at": -10},
    ]:
        with pytest.raises(SilenceError):
            await store.create(LEADER_M1, H, 0.0, scope_id="M1", **bad)  # type: ignore[arg-type]
    s = await store.create(COMMUNITY, H, 0.0, scope_id="G1", ends_at=60, comment="片区停水检修")
    assert [x.id for x in await store.visible(LEADER_M1, H, 0.0)] == [s.id]  # it covers their micro-grid
    with pytest.raises(SilencePermissionError):
        await store.cancel(LEADER_M1, H, s.id, 1.0)  # but only someone answering for G1 may lift it
    assert await store.visible(GRID_G2, H, 0.0) == []
    with pytest.raises(NotFoundError):
        await store.cancel(GRID_G2, H, s.id, 1.0)


async def test_a_lasting_condition_silenced_during_maintenance_opens_its_ticket_when_the_window_ends(
    engine: AsyncEngine,
) -> None:
    """The engine raises an offline device once. A raise the window dropped is held: at the end of the window
    what is still wrong opens a ticket (dated when it happened); what cleared meanwhile, and moments such as a
    thrown object, do not."""
    from msgspec.structs import replace

    clock = ManualClock(1_000.0)
    service = TicketService(engine, lambda: H, clock)
    await service.silences.create(LEADER_M1, H, clock.now(), scope_id="M1", ends_at=4_600, comment="水表更换")
    still = replace(alert(key="device_offline:w1", rule="device_offline", ts=1_100), lasting=True)
    back = replace(alert(key="device_offline:w2", rule="device_offline", ts=1_200), lasting=True)
    moment = alert(key="thrown_object:c1@1300", rule="thrown_object", ts=1_300)
    assert await service.apply([still, back, moment]) == []
    assert await service.apply([replace(back, action=AlertAction.CLEAR, ts=2_000)]) == []  # w2 is back
    assert await service.release_held() == []  # the window is still open
    clock.set(4_600)
    [t] = await service.release_held()
    assert (t.dedup_key, t.first_seen) == ("device_offline:w1", 1_100)
    assert await service.release_held() == []  # released once


async def test_cancelling_a_silence_releases_what_it_held(engine: AsyncEngine) -> None:
    from msgspec.structs import replace

    clock = ManualClock(1_000.0)
    service = TicketService(engine, lambda: H, clock)
    s = await service.silences.create(LEADER_M1, H, clock.now(), scope_id="M1", ends_at=4_600, comment="检修")
    leak = replace(alert(key="water_leak:w1", rule="water_leak"), lasting=True)
    assert await service.apply([leak]) == []
    await service.silences.cancel(LEADER_M1, H, s.id, clock.now())
    [t] = await service.release_held()
    assert t.dedup_key == "water_leak:w1"


async def test_a_clear_racing_the_release_of_its_held_raise_still_clears_the_ticket(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The escalation loop releases a held raise while the rule engine's clear of the same key arrives: the
    ticket must end up cleared, never open for a condition that has ended (its only clear already came)."""
    import asyncio

    from msgspec.structs import replace

    clock = ManualClock(1_000.0)
    service = TicketService(engine, lambda: H, clock)
    await service.silences.create(LEADER_M1, H, clock.now(), scope_id="M1", ends_at=2_000, comment="检修")
    offline = replace(alert(key="device_offline:w9", rule="device_offline", ts=1_100), lasting=True)
    assert await service.apply([offline]) == []
    clock.set(2_000)
    reading_done, go_on = asyncio.Event(), asyncio.Event()
    held_after_end = service.silences.held_after_end

    async def slow(now: float) -> list[tuple[int, object]]:
        got = await held_after_end(now)
        reading_done.set()
        await go_on.wait()  # the clear arrives while the release has read the held raise
        return got  # type: ignore[return-value]

    monkeypatch.setattr(service.silences, "held_after_end", slow)
    release = asyncio.create_task(service.release_held())
    await reading_done.wait()
    clear = asyncio.create_task(service.apply([replace(offline, action=AlertAction.CLEAR, ts=1_900)]))
    await asyncio.sleep(0)
    go_on.set()
    await asyncio.gather(release, clear)
    [t] = (await service.list_tickets(OPERATOR)).items
    assert t.dedup_key == "device_offline:w9"
    assert t.cleared


async def test_a_silence_needs_finite_sane_times_and_a_registered_device_in_its_scope(engine: AsyncEngine) -> None:
    now = 1_700_000_000.0
    store = TicketService(engine, lambda: H, ManualClock(now)).silences
    for bad in [
        {"starts_at": float("-inf"), "ends_at": now + 60},
        {"starts_at": float("nan"), "ends_at": now + 60},
        {"starts_at": now, "ends_at": float("nan")},
        {"starts_at": 0.0, "ends_at": now + 60},  # 1970: absurd, and it would read as active since then
        {"starts_at": now - 2 * 86_400, "ends_at": now + 60},
    ]:
        with pytest.raises(SilenceError):
            await store.create(LEADER_M1, H, now, scope_id="M1", comment="x", **bad)
    for device in ("no-such-device", "d2"):  # unknown, and registered elsewhere: told the same
        with pytest.raises(SilenceError, match=f"no device {device} within M1"):
            await store.create(LEADER_M1, H, now, scope_id="M1", ends_at=now + 60, comment="x", device_id=device)
    with pytest.raises(SilenceError):
        await store.create(OPERATOR, H, now, scope_id="nowhere", ends_at=now + 60, comment="x")
    started = await store.create(LEADER_M1, H, now, scope_id="M1", ends_at=now + 60, comment="x", starts_at=now - 600)
    assert started.active(now)
    s = await store.create(LEADER_M1, H, now, scope_id="M1", ends_at=now + 60, comment="换电池", device_id="d1")
    assert s.device_id == "d1"
