"""Recurring silences: weekly windows in the street's time, across midnight; a weekly silence mutes only inside
its windows, and what it held opens its ticket when the window closes, not at the season's end."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from msgspec.structs import replace
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.errors import SilenceDuplicateError, SilenceError
from alerts.recurrence import RecurrenceError, decode, encode, parse_weekly
from alerts.service import TicketService
from core.clock import ManualClock
from rules.alert import AlertAction, Severity

from .fakes import LEADER_M1, FakeHierarchy, alert

TZ = ZoneInfo("Asia/Shanghai")
H = FakeHierarchy()


def at(day: int, hour: int, minute: int = 0) -> float:
    """December 2026 in Shanghai: the 1st is a Tuesday."""
    return datetime(2026, 12, day, hour, minute, tzinfo=TZ).timestamp()


def test_a_window_covers_its_days_and_hours_in_the_street_time() -> None:
    tuesdays = parse_weekly([2], "09:00", "11:00")
    assert tuesdays.covers(at(1, 9), TZ)
    assert tuesdays.covers(at(8, 10, 59), TZ)
    assert not tuesdays.covers(at(1, 11), TZ)
    assert not tuesdays.covers(at(2, 10), TZ)  # a Wednesday
    assert not tuesdays.covers(at(1, 9), ZoneInfo("Europe/Madrid"))  # 09:00 in Shanghai is 02:00 in Madrid


def test_a_night_window_crosses_midnight_into_the_next_day() -> None:
    nights = parse_weekly([5], "22:00", "02:00")  # Friday night
    assert nights.covers(at(4, 23), TZ)
    assert nights.covers(at(5, 1, 30), TZ)  # early Saturday
    assert not nights.covers(at(5, 22, 30), TZ)  # Saturday night
    assert not nights.covers(at(4, 21), TZ)
    assert nights.windows(at(1, 0), at(31, 0), TZ, limit=2) == [(at(4, 22), at(5, 2)), (at(11, 22), at(12, 2))]


def test_windows_are_clipped_to_the_silence() -> None:
    w = parse_weekly([2, 4], "09:00", "11:00")
    assert w.windows(at(1, 10), at(3, 10), TZ) == [(at(1, 10), at(1, 11)), (at(3, 9), at(3, 10))]
    assert decode(*encode(w)) == w
    assert encode(None) == (None, None, None)


@pytest.mark.parametrize(
    ("days", "start", "end", "key"),
    [
        ([], "09:00", "10:00", "errors.weekly_days"),
        ([8], "09:00", "10:00", "errors.weekly_days"),
        ([2], "9:00", "10:00", "errors.weekly_time"),
        ([2], "24:00", "10:00", "errors.weekly_time"),
        ([2], "09:00", "09:00", "errors.weekly_empty"),
    ],
)
def test_a_malformed_window_is_refused(days: list[int], start: str, end: str, key: str) -> None:
    with pytest.raises(RecurrenceError) as caught:
        parse_weekly(days, start, end)
    assert caught.value.key == key


async def test_a_weekly_silence_mutes_only_inside_its_windows_and_releases_what_it_held(engine: AsyncEngine) -> None:
    clock = ManualClock(at(1, 8))
    service = TicketService(engine, lambda: H, clock, tz=TZ)
    weekly = parse_weekly([2], "09:00", "11:00")
    s = await service.silences.create(
        LEADER_M1, H, clock.now(), scope_id="M1", ends_at=at(29, 0), comment="每周二抄表维护", weekly=weekly
    )
    assert not s.active(clock.now(), TZ)
    assert await service.apply([alert("device_offline:m1", rule="device_offline", ts=clock.now())])  # 08:00: loud
    clock.set(at(1, 9, 30))
    offline = replace(alert("device_offline:m2", rule="device_offline", ts=clock.now()), lasting=True)
    assert await service.apply([offline]) == []  # inside the window: held, no ticket
    clock.set(at(1, 10, 59))
    assert await service.release_held() == []  # still inside
    clock.set(at(1, 11, 1))
    [released] = await service.release_held()  # the window closed: still offline, its ticket opens now
    assert released.dedup_key == "device_offline:m2"
    clock.set(at(8, 9, 1))
    assert await service.apply([alert("smoke_alarm:x", ts=clock.now(), severity=Severity.MAJOR)]) == []
    assert await service.apply([alert("smoke_alarm:x", action=AlertAction.CLEAR, ts=clock.now())]) == []


async def test_a_weekly_silence_may_run_a_season_and_needs_a_window_and_no_twin(engine: AsyncEngine) -> None:
    clock = ManualClock(at(1, 8))
    store = TicketService(engine, lambda: H, clock, tz=TZ).silences
    weekly = parse_weekly([2], "09:00", "11:00")
    season = dict(scope_id="M1", ends_at=clock.now() + 90 * 86_400, comment="x")
    await store.create(LEADER_M1, H, clock.now(), weekly=weekly, **season)  # type: ignore[arg-type]
    with pytest.raises(SilenceDuplicateError):
        await store.create(LEADER_M1, H, clock.now(), weekly=weekly, **season)  # type: ignore[arg-type]
    with pytest.raises(SilenceError):  # a season without the weekly windows is a 90-day blanket: too long
        await store.create(LEADER_M1, H, clock.now(), **season)  # type: ignore[arg-type]
    with pytest.raises(SilenceError):  # Wednesday 08:00 to Thursday 08:00 holds no Tuesday window
        await store.create(
            LEADER_M1, H, clock.now(), scope_id="M1", starts_at=at(2, 8), ends_at=at(3, 8), comment="x", weekly=weekly
        )
