"""The board in real headless Chromium with one ticket per situation: a smoke alarm shows at once as verifying
and then as the confirmed ticket (or goes when the resident silenced it); a ticket stays overdue after its
escalations moved its deadlines, with its countdowns on the list."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from devices.model import Role
from devices.sample import sample_street

from .board_app import Login, MovableClock, alert_dict, build_app, serve
from .browser import watched_page
from .test_board_browser import PASSWORD, inject, login

pytestmark = pytest.mark.browser

A = "mg-yg-1-1"


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, MovableClock]]:
    reg = sample_street(start=None)
    worker = reg.people_at(A, Role.GRID_WORKER)[0]
    clock = MovableClock()
    logins = [Login("worker_a", PASSWORD, Role.GRID_WORKER, A, worker.name, worker.id)]
    app = build_app(tmp_path_factory.mktemp("incidents") / "board.db", reg, logins, clock)
    with serve(app) as url:
        yield url, clock


def smoke_alarm(device: str, ts: float, **extra: Any) -> dict[str, Any]:
    return alert_dict(
        f"smoke_alarm:{device}", A, "烟感报警 Smoke alarm", "critical", ts, "smoke_alarm", device_id=device, **extra
    )


async def test_a_smoke_alarm_shows_as_verifying_then_confirmed_or_withdrawn(
    board: tuple[str, MovableClock], browser: Browser
) -> None:
    from playwright.async_api import expect

    url, _ = board
    page, errors = await watched_page(browser)
    await login(page, url, "worker_a")
    await expect(page.locator("#conn")).to_have_attribute("data-mode", "live")

    # the alarm is on the board as soon as its wait starts, marked as being verified, with its countdown
    now = time.time()
    [tid] = await inject(url, smoke_alarm("SD-0000011", now, action="pending", until=now + 40))
    ticket = page.locator(f'.ticket[data-id="{tid}"]')
    await expect(ticket).to_contain_text("烟感报警")
    await expect(ticket.get_by_test_id("verifying")).to_contain_text("核实中")
    await ticket.click()
    await expect(page.get_by_test_id("event").first).to_contain_text("核实中")

    # confirmed: an ordinary open ticket, and its timeline says so
    [same] = await inject(url, smoke_alarm("SD-0000011", now + 40))
    assert same == tid
    await expect(ticket.get_by_test_id("verifying")).to_have_count(0)
    await expect(ticket).to_contain_text("待确认")
    await expect(page.get_by_test_id("event").first).to_contain_text("核实确认")

    # another alarm the resident silences within its wait: shown, then gone from the active list
    [t2] = await inject(url, smoke_alarm("SD-0000012", now, action="pending", until=now + 40))
    other = page.locator(f'.ticket[data-id="{t2}"]')
    await expect(other.get_by_test_id("verifying")).to_be_visible()
    await inject(url, smoke_alarm("SD-0000012", now + 5, action="cancel", details={"event": "silenced"}))
    await expect(other).to_have_count(0)
    assert errors == []


async def escalate(url: str) -> list[int]:
    async with httpx.AsyncClient(base_url=url) as client:
        r = await client.post("/test/escalate")
        r.raise_for_status()
        ids: list[int] = r.json()
        return ids


async def test_an_escalated_ticket_stays_overdue_with_its_clock_on_the_list(
    board: tuple[str, MovableClock], browser: Browser
) -> None:
    from playwright.async_api import expect

    url, clock = board
    page, errors = await watched_page(browser)
    await login(page, url, "worker_a")
    await expect(page.locator("#conn")).to_have_attribute("data-mode", "live")

    # a new critical ticket counts down its five minutes to be acknowledged
    [tid] = await inject(url, smoke_alarm("SD-0000021", clock.now()))
    ticket = page.locator(f'.ticket[data-id="{tid}"]')
    await expect(ticket.get_by_test_id("sla")).to_contain_text("确认剩余 4:")

    # nobody acknowledged it: two escalations later it is still overdue, and counted so (with whatever the
    # other tests of this board left unacknowledged, escalated alike)
    overdue = page.locator("#s-overdue")
    counted: list[str] = []
    for level in ("L1", re.compile("L[2-4]")):  # levels without anyone are skipped
        clock.move(301)
        assert tid in await escalate(url)
        await expect(ticket.get_by_test_id("level")).to_contain_text(level)
        await expect(ticket.get_by_test_id("sla")).to_contain_text("超时")
        await expect(overdue).not_to_have_text("0")
        counted.append(await overdue.inner_text())
    assert counted[0] == counted[1]
    await ticket.click()
    await expect(page.get_by_test_id("detail-title")).to_contain_text("烟感报警")
    await expect(page.locator("#detail-body")).to_contain_text("未按时确认")
    # the system's timeline notes (stored in both languages) are said in the board's one
    timeline = page.locator("#timeline")
    await expect(timeline).to_contain_text("超时未确认，升级到第 1 级")
    await expect(timeline).not_to_contain_text("escalated to level")
    await page.click("#lang")
    await expect(timeline).to_contain_text("Not acknowledged in time; escalated to level 1")
    await expect(timeline).not_to_contain_text("升级到第")
    await page.click("#lang")
    assert errors == []
