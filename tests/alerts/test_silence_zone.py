"""The silence form in real headless Chromium whose zone is not the street's: the start and end typed are the
street's time (like the weekly windows), the form names the zone, and the list shows the times the same way."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser

from devices.model import Role
from devices.sample import sample_street

from .board_app import Login, build_app, serve
from .browser import watched_page
from .test_board_browser import PASSWORD, A, login

pytestmark = pytest.mark.browser

STREET = ZoneInfo("Asia/Shanghai")  # UTC+8, no daylight saving
BROWSER = "America/New_York"  # 12 or 13 hours behind it


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    reg = sample_street(start=None)
    la = reg.people_at(A, Role.MICROGRID_LEADER)[0]
    logins = [Login("leader_a", PASSWORD, Role.MICROGRID_LEADER, A, la.name, la.id)]
    with serve(build_app(tmp_path_factory.mktemp("zone") / "board.db", reg, logins, tz=STREET)) as url:
        yield url


async def test_the_silence_form_reads_and_shows_times_in_the_streets_zone(board: str, browser: Browser) -> None:
    from playwright.async_api import expect

    tomorrow = datetime.now(STREET).date() + timedelta(days=1)
    start = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, 0, tzinfo=STREET)
    end = start + timedelta(hours=2)
    async with httpx.AsyncClient(base_url=board) as client:
        r = await client.post("/api/v1/auth/login", json={"username": "leader_a", "password": PASSWORD})
        scopes = await client.get("/api/v1/silences/scopes", headers={"Authorization": f"Bearer {r.json()['token']}"})
        assert scopes.json()["tz"] == "Asia/Shanghai"
    page, errors = await watched_page(browser, timezone_id=BROWSER)
    await login(page, board, "leader_a")
    await page.click("#silence-new")
    await expect(page.get_by_test_id("silence-tz")).to_contain_text("Asia/Shanghai（UTC+08:00）")
    now_there = datetime.now(STREET)  # the start offered is now on the street's clocks
    assert (await page.input_value("#silence-start"))[:13] in {
        now_there.strftime("%Y-%m-%dT%H"),
        (now_there - timedelta(minutes=1)).strftime("%Y-%m-%dT%H"),
    }
    await page.fill("#silence-start", start.strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#silence-end", end.strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#silence-comment", "换水表")
    await page.click("#silence-submit")
    window = page.get_by_test_id("silence")
    # tomorrow may be next year's: the board writes the year then
    day = f"{start.year}-{start.month:02d}" if start.year != now_there.year else f"{start.month}"
    await expect(window).to_contain_text(f"{day}-{start.day:02d} 09:00:00")
    await expect(window).to_contain_text(f"{day}-{end.day:02d} 11:00:00")
    listed = await page.evaluate("fetch('/api/v1/silences').then(r => r.json())")
    [s] = listed["items"]
    assert (s["starts_at"], s["ends_at"]) == (start.timestamp(), end.timestamp())
    assert listed["tz"] == "Asia/Shanghai"
    assert errors == []


async def test_the_walls_clock_shows_the_streets_time(board: str, browser: Browser) -> None:
    """The wall's clock reads the street's time (the zone of silences and tickets), not the zone of the PC that
    drives the screen."""
    from playwright.async_api import expect

    page, errors = await watched_page(browser, timezone_id=BROWSER)
    await page.goto(board + "/wall")
    await page.fill("#username", "leader_a")
    await page.fill("#password", PASSWORD)
    await page.click("#login-btn")
    await expect(page.get_by_test_id("areas")).to_be_visible()
    now_there = datetime.now(STREET)
    shown = {(now_there + timedelta(minutes=m)).strftime("%-m-%d %H:%M") for m in (-1, 0, 1)}
    await expect(page.locator("#clock")).to_have_text(re.compile("|".join(map(re.escape, shown))))
    assert errors == []
