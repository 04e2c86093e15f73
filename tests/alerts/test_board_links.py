"""Deep links in real headless Chromium: `/tickets/{id}` opens the board on that ticket (also after signing in),
the list's filters live in the query string, and back/forward move between the lists and tickets seen."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.async_api import Browser

from .board_app import alert_dict
from .browser import watch_errors, watched_page
from .test_board_browser import PASSWORD, A, board, inject

__all__ = ["board"]  # the module-scoped fixture, shared with the board's other browser tests

pytestmark = pytest.mark.browser


async def test_a_ticket_link_opens_the_board_on_it_after_signing_in(board: str, browser: Browser) -> None:
    from playwright.async_api import expect

    [tid] = await inject(
        board, alert_dict("water_leak:WM-link", A, "漏水：桂花苑3号楼 3-502", "major", time.time(), "water_leak")
    )
    async with httpx.AsyncClient(base_url=board) as client:
        assert (await client.get(f"/tickets/{tid}")).status_code == 200
        assert (await client.get("/tickets/abc")).status_code == 404  # no ticket there: the board says so
    page, errors = await watched_page(browser)
    await page.goto(f"{board}/tickets/{tid}")
    await page.fill("#username", "worker_a")
    await page.fill("#password", PASSWORD)
    await page.click("#login-btn")
    await expect(page.get_by_test_id("detail-title")).to_contain_text("漏水")
    await page.click("#detail-close")
    await expect(page.locator("#detail")).to_be_hidden()
    assert page.url == f"{board}/"
    await page.go_back()
    await expect(page.get_by_test_id("detail-title")).to_contain_text("漏水")
    assert page.url == f"{board}/tickets/{tid}"
    # a ticket out of the viewer's scope, or none at all: the plain board, nothing open, and why
    await page.goto(f"{board}/tickets/999999")
    await page.wait_for_selector("#board-view:not([hidden])")
    await expect(page.locator("#detail")).to_be_hidden()
    await expect(page).to_have_url(f"{board}/")
    await expect(page.locator("#list-error")).to_have_text("找不到工单 999999")
    assert errors == []


async def test_the_filters_are_in_the_address_and_back_restores_them(board: str, browser: Browser) -> None:
    from playwright.async_api import expect

    now = time.time()
    crit, minor = await inject(
        board,
        alert_dict("gas_leak:GD-link", A, "燃气泄漏：桂花苑5号楼", "critical", now, "gas_leak"),
        alert_dict("bin_full:TB-link", A, "垃圾桶满溢：桂花苑", "minor", now, "bin_full"),
    )
    page, errors = await watched_page(browser)
    await page.goto(f"{board}/?severity=critical")
    await page.fill("#username", "leader_a")
    await page.fill("#password", PASSWORD)
    await page.click("#login-btn")
    await expect(page.locator(f'.ticket[data-id="{crit}"]')).to_have_count(1)
    await expect(page.locator(f'.ticket[data-id="{minor}"]')).to_have_count(0)
    await expect(page.locator("#f-severity")).to_have_value("critical")

    await page.select_option("#f-severity", "minor")
    await expect(page).to_have_url(f"{board}/?severity=minor")
    await expect(page.locator(f'.ticket[data-id="{minor}"]')).to_have_count(1)
    await page.select_option("#f-status", "")
    await expect(page).to_have_url(f"{board}/?status=all&severity=minor")
    await page.locator(f'.ticket[data-id="{minor}"]').click()
    await expect(page).to_have_url(f"{board}/tickets/{minor}?status=all&severity=minor")

    await page.go_back()
    await expect(page.locator("#detail")).to_be_hidden()
    await page.go_back()
    await expect(page.locator("#f-status")).to_have_value("active")
    await page.go_back()
    await expect(page.locator("#f-severity")).to_have_value("critical")
    await expect(page.locator(f'.ticket[data-id="{minor}"]')).to_have_count(0)
    await expect(page.locator(f'.ticket[data-id="{crit}"]')).to_have_count(1)
    await page.go_forward()
    await expect(page.locator(f'.ticket[data-id="{minor}"]')).to_have_count(1)
    assert errors == []


@pytest.mark.parametrize(
    ("lang", "bad", "unknown"),
    [
        ("zh-CN", "链接里的“abc”不是工单号，请检查链接", "找不到工单 999999"),
        ("en", "“abc” in the link is not a ticket number: check the link", "ticket 999999 not found"),
    ],
)
async def test_a_link_to_no_ticket_shows_the_board_and_says_why_in_the_readers_language(
    board: str, lang: str, bad: str, unknown: str, browser: Browser
) -> None:
    from playwright.async_api import expect

    async with httpx.AsyncClient(base_url=board) as client:
        page_404 = await client.get("/tickets/abc")
        assert page_404.status_code == 404  # nothing there, said by the board page rather than raw JSON
        assert page_404.headers["content-type"].startswith("text/html")
    context = await browser.new_context()
    await context.add_cookies([{"name": "lang", "value": lang, "url": board}])
    page = await context.new_page()
    errors: list[str] = []
    watch_errors(page, errors)
    await page.goto(f"{board}/tickets/abc?severity=critical")
    await page.fill("#username", "worker_a")
    await page.fill("#password", PASSWORD)
    await page.click("#login-btn")
    await expect(page.locator("#list-error")).to_have_text(bad)
    await expect(page.locator("#detail")).to_be_hidden()
    await expect(page).to_have_url(f"{board}/?severity=critical")  # the list it asked for
    for ref in ("99999999999", "0"):  # a number, but no ticket's
        await page.goto(f"{board}/tickets/{ref}")
        await expect(page.locator("#list-error")).to_have_text(bad.replace("abc", ref))
    await page.goto(f"{board}/tickets/999999")
    await expect(page.locator("#list-error")).to_have_text(unknown)
    await expect(page).to_have_url(f"{board}/")
    assert errors == []
