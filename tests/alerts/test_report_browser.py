"""The printable monthly report in real headless Chromium: the street's duty logs in on the board, opens
/reports, sees its communities' figures and the trend, switches language, and the page holds to its CSP."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from devices.model import Role
from devices.sample import sample_street

from .board_app import Login, alert_dict, build_app, serve
from .browser import PHONE, watch_errors, watched_page
from .test_board_browser import login

pytestmark = pytest.mark.browser

PASSWORD = "board-test-password"
A, B = "mg-yg-1-1", "mg-yg-1-2"
#: Set to a folder to keep the page's screenshot there (docs/report-monthly.png is made this way).
SHOTS = os.environ.get("CWATCH_SCREENSHOTS")


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _board(tmp_path_factory)


@pytest.fixture
def own_board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A board of its own, for a test whose tickets the others' counts must not see."""
    yield from _board(tmp_path_factory)


def _board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    reg = sample_street(start=None)
    street = next(iter(reg.streets.values()))
    duty = reg.people_at(street.id, Role.STREET_DUTY)
    leader = reg.people_at(A, Role.MICROGRID_LEADER)[0]
    logins = [
        Login("street", "board-test-password", Role.STREET_DUTY, street.id, "街道值班", duty[0].id if duty else None),
        Login("leader", "board-test-password", Role.MICROGRID_LEADER, A, leader.name, leader.id),
    ]
    with serve(build_app(tmp_path_factory.mktemp("report") / "board.db", reg, logins)) as url:
        yield url


async def _tickets(url: str) -> str:
    """Raise seven tickets; return the month ("YYYY-MM") the board files them in: when it made them, in its
    zone (UTC), which need not be this machine's."""
    now = time.time()
    alerts = [
        alert_dict(f"smoke:{i}", A if i % 2 else B, f"烟感报警 {i}", "major", now - 60, "smoke_alarm") for i in range(6)
    ]
    alerts.append(alert_dict("door:1", A, "门被撬", "critical", now - 60, "door_forced"))
    async with httpx.AsyncClient(base_url=url) as client:
        (await client.post("/test/alerts", json=alerts)).raise_for_status()
    return datetime.now(UTC).strftime("%Y-%m")


async def test_street_duty_reads_the_monthly_report_and_can_print_it(board: str, browser: Browser) -> None:
    from playwright.async_api import expect

    month = await _tickets(board)
    page, errors = await watched_page(browser, viewport={"width": 1100, "height": 1400})
    page.set_default_timeout(20_000)
    await login(page, board, "street")
    await page.goto(f"{board}/reports?month={month}&lang=zh")
    await expect(page.locator("#report")).to_be_visible()
    await expect(page.locator("#cards .card").first).to_contain_text("7")  # tickets
    await expect(page.locator("#cards")).to_contain_text("按期处置率")
    areas = page.locator("#areas tbody tr")
    assert await areas.count() >= 1
    await expect(page.locator("#areas")).to_contain_text("社区")
    await expect(page.locator("#rules")).to_contain_text("烟感报警")  # the rule by its title
    assert await page.locator("#trend rect.bar").count() >= 28
    href = await page.locator("#xlsx").get_attribute("href")
    assert href is not None
    assert "format=xlsx" in href
    # every control is labelled and big enough to tap
    for sel in ("#month", "#by", "#show", "#print", "#lang"):
        box = await page.locator(sel).bounding_box()
        assert box is not None
        assert box["height"] >= 44, sel
    if SHOTS:
        await page.screenshot(path=str(Path(SHOTS) / "report-monthly.png"), full_page=True)
    await page.emulate_media(media="print")
    assert not await page.locator("#controls").is_visible()  # the controls stay off paper
    await page.emulate_media(media="screen")
    await page.click("#lang")
    await expect(page.locator("#cards")).to_contain_text("Resolved on time")
    # on a phone the page does not scroll sideways; a wide table does, in its own box
    await page.set_viewport_size(PHONE)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert errors == []


async def test_the_board_leads_to_the_report_on_a_desk_and_on_a_phone(board: str, browser: Browser) -> None:
    """A leader finds the monthly review on the board itself, not by typing its address; on a phone the link
    sits with the filters, as big as any touch target, and the wall's does not show."""
    from playwright.async_api import expect

    desk = await (await browser.new_context(viewport={"width": 1440, "height": 900})).new_page()
    await login(desk, board, "leader")
    await expect(desk.locator("#wall-link")).to_be_visible()
    await desk.click("#reports-link")
    await expect(desk.locator("#report")).to_be_visible(timeout=20_000)
    await expect(desk.locator("#title")).to_contain_text("月度报表")
    phone = await (await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)).new_page()
    await login(phone, board, "leader")
    await expect(phone.locator("#reports-link")).to_be_hidden()  # folded with the filters
    await phone.click("#f-toggle")
    link = phone.locator("#reports-link")
    await expect(link).to_be_visible()
    await expect(phone.locator("#wall-link")).to_be_hidden()
    box = await link.bounding_box()
    assert box is not None
    assert box["height"] >= 44
    await phone.click("#lang")
    await expect(link).to_have_text("Monthly report")


async def test_the_report_draws_the_mean_times_to_acknowledge_and_resolve(own_board: str, browser: Browser) -> None:
    """MTTA and MTTR have their own trend beside the tickets': a line each with a dot per day that has one."""
    from playwright.async_api import expect

    board = own_board
    [tid] = await inject_one(board)
    async with httpx.AsyncClient(base_url=board) as client:
        r = await client.post("/api/v1/auth/login", json={"username": "leader", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        for action, body in (("ack", {}), ("resolve", {"note": "已清理"})):
            (await client.post(f"/api/v1/tickets/{tid}/{action}", json=body, headers=headers)).raise_for_status()
    month = datetime.now(UTC).strftime("%Y-%m")
    page, errors = await watched_page(browser)
    await login(page, board, "leader")
    await page.goto(f"{board}/reports?month={month}&lang=zh")
    await expect(page.locator("#h-times")).to_have_text("每日平均确认与处置用时")
    await expect(page.locator("#times circle.mtta_s")).to_have_count(1)
    await expect(page.locator("#times circle.mttr_s")).to_have_count(1)
    await expect(page.locator("#times circle.mttr_s title")).to_contain_text("平均处置用时")
    await page.click("#lang")
    await expect(page.locator("#times-caption")).to_contain_text("mean time to resolve")
    assert errors == []


async def inject_one(url: str) -> list[int]:
    alert = alert_dict("trash_full:TB-mtta", A, "垃圾桶满溢", "warning", time.time() - 60, "trash_full")
    async with httpx.AsyncClient(base_url=url) as client:
        r = await client.post("/test/alerts", json=[alert])
        r.raise_for_status()
        ids: list[int] = r.json()
        return ids


async def test_without_a_session_the_page_says_to_log_in(board: str, browser: Browser) -> None:
    from playwright.async_api import expect

    page: Any = await (await browser.new_context()).new_page()
    await page.goto(f"{board}/reports?month=2026-01&lang=en")
    await expect(page.locator("#status")).to_contain_text("Log in on the board first", timeout=20_000)
    # signing in on the board brings the reader back to the report they opened, its month kept
    await page.click("#sign-in")
    await page.fill("#username", "leader")
    await page.fill("#password", PASSWORD)
    await page.click("#login-btn")
    await expect(page.locator("#report")).to_be_visible(timeout=20_000)
    assert "/reports?month=2026-01" in page.url


async def test_the_rows_offered_are_the_levels_below_the_readers_area(board: str, browser: Browser) -> None:
    from playwright.async_api import expect

    context = await browser.new_context()
    street = await context.new_page()
    await login(street, board, "street")
    await street.goto(f"{board}/reports?lang=zh")
    await expect(street.locator("#report")).to_be_visible()
    await expect(street.locator("#by")).to_be_visible()
    await expect(street.locator("#by option:not([hidden])")).to_have_count(4)  # default, 3 levels
    await expect(street.locator("#by option").first).to_have_text("下一级")  # the default says what it is
    leader = await (await browser.new_context()).new_page()
    await login(leader, board, "leader")
    await leader.goto(f"{board}/reports?lang=zh")
    await expect(leader.locator("#report")).to_be_visible()
    await expect(leader.locator("#by")).to_be_hidden()  # a micro-grid has no rows to choose


async def test_the_month_is_named_in_the_boards_language_not_the_browsers(board: str, browser: Browser) -> None:
    from playwright.async_api import expect

    # an English browser whose reader chose Chinese on the board, then English
    context = await browser.new_context(locale="en-US", viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    watch_errors(page, errors)
    await login(page, board, "street")
    await page.goto(f"{board}/reports?month=2026-03&lang=zh")
    await expect(page.locator("#month")).to_have_value("2026-03")
    await expect(page.locator("#month option:checked")).to_have_text("2026年3月")
    await expect(page.locator("#period")).to_contain_text("2026-03")
    await page.click("#lang")
    await expect(page.locator("#month option:checked")).to_have_text("March 2026")
    await page.select_option("#month", index=0)  # this month, named in the same language
    this_month = datetime.now().astimezone()
    await expect(page.locator("#month option:checked")).to_have_text(this_month.strftime("%B %Y"))
    assert errors == []
