"""The board's language switch in real headless Chromium: 中文 / English changes the board's texts and the
server's reasons, is remembered after a reload, and the phone's header stays on one line in either language."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Browser

from devices.model import Role
from devices.sample import sample_street

from .board_app import Login, alert_dict, build_app, serve
from .browser import PHONE, watched_page
from .test_board_browser import PASSWORD, inject, login

pytestmark = pytest.mark.browser
A = "mg-yg-1-1"


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    reg = sample_street(start=None)
    wa = reg.people_at(A, Role.GRID_WORKER)[0]
    logins = [Login("worker_a", PASSWORD, Role.GRID_WORKER, A, wa.name, wa.id)]
    app = build_app(tmp_path_factory.mktemp("board") / "board.db", reg, logins)
    with serve(app) as url:
        yield url


async def test_switching_language_changes_the_board_and_persists_after_reload(board: str, browser: Browser) -> None:
    from playwright.async_api import expect

    [tid] = await inject(
        board,
        alert_dict("leak:WM-1", A, "漏水：桂花苑1号楼 1-101", "major", time.time() - 300, "leak", device_id="WM-1"),
    )
    page, errors = await watched_page(browser)
    await login(page, board, "worker_a")
    ticket = page.locator(f'.ticket[data-id="{tid}"]')
    # Chinese by default, and Chinese only
    await expect(ticket).to_contain_text("待确认")
    await expect(page.locator("#lang")).to_have_text("English")
    await expect(page.locator("#logout")).to_have_text("退出")
    await expect(page.locator(".summary")).not_to_contain_text("Active")

    # the server answers in the board's language (its cookie; Chromium asks for English)
    await ticket.click()
    await page.click('[data-action="ack"]')
    await expect(page.get_by_test_id("event").first).to_contain_text("确认")
    await page.click('[data-action="resolve"]')
    await page.click("#note-submit")
    await expect(page.locator("#action-error")).to_have_text("解决需要填写说明")

    await page.click("#lang")
    await expect(page.locator("#lang")).to_have_text("中文")
    await expect(ticket).to_contain_text("Acknowledged")
    await expect(ticket).to_contain_text("min ago")
    await expect(page.locator("#logout")).to_have_text("Log out")
    await expect(page.locator(".summary")).to_contain_text("Active")
    await expect(page.locator(".summary")).not_to_contain_text("待办")
    await expect(page.locator("#note-label")).to_have_text("Resolution note (required)")
    assert await page.evaluate("document.documentElement.lang") == "en"
    await page.click("#note-submit")
    await expect(page.locator("#action-error")).to_have_text("resolve needs a note")
    await page.fill("#note", "valve closed")
    await page.click("#note-submit")
    await expect(page.get_by_test_id("event").first).to_contain_text("Resolve")
    await expect(page.locator("#action-error")).to_have_text("")  # the refusal does not stay

    await page.reload()
    await page.wait_for_selector("#board-view:not([hidden])")
    await expect(page.locator("#logout")).to_have_text("Log out")
    await expect(page.locator("#lang")).to_have_text("中文")

    await page.click("#lang")
    await expect(page.locator("#logout")).to_have_text("退出")
    await page.reload()
    await page.wait_for_selector("#board-view:not([hidden])")
    await expect(page.locator("#logout")).to_have_text("退出")
    assert errors == []


async def _one_line(page: Any, selector: str) -> bool:
    """Whether the element's children all sit on one line (their tops within a few pixels)."""
    tops: list[float] = await page.evaluate(
        """(sel) => [...document.querySelector(sel).querySelectorAll(':scope > *, .who > *')]
            .filter((e) => e.offsetParent !== null).map((e) => e.getBoundingClientRect().top)""",
        selector,
    )
    return bool(tops) and max(tops) - min(tops) < 12


async def test_the_phone_header_fits_on_one_line_in_either_language(board: str, browser: Browser) -> None:

    page = await (await browser.new_context(viewport=PHONE)).new_page()
    await login(page, board, "worker_a")
    for _ in range(2):
        height = await page.evaluate("document.querySelector('.topbar').getBoundingClientRect().height")
        assert await _one_line(page, ".topbar"), await page.locator(".topbar").inner_text()
        assert height <= 60, height
        await page.click("#lang")


async def test_a_link_page_shows_one_language_the_browsers_until_the_board_chose_one(
    board: str, browser: Browser
) -> None:
    from playwright.async_api import expect

    not_valid = {"zh-CN": "链接无效。", "en-GB": "This link is not valid.", "fr-FR": "链接无效。"}
    for locale, shown in not_valid.items():
        stranger = await (await browser.new_context(viewport=PHONE, locale=locale)).new_page()
        await stranger.goto(board + "/act.html#1.not-a-token")
        await expect(stranger.locator("#act-message")).to_have_text(shown)

    worker = await (await browser.new_context(viewport=PHONE, locale="zh-CN")).new_page()
    await login(worker, board, "worker_a")
    await worker.click("#lang")
    await expect(worker.locator("#logout")).to_have_text("Log out")
    await worker.goto(board + "/act.html#1.not-a-token")
    await expect(worker.locator("#act-message")).to_have_text("This link is not valid.")


async def test_a_title_in_both_languages_shows_the_boards_one_and_device_classes_by_name(
    board: str, browser: Browser
) -> None:
    from playwright.async_api import expect

    now = time.time()
    both, named_id = await inject(
        board,
        alert_dict(
            "door:AC-7",
            A,
            "门被强行打开 Door forced open",
            "critical",
            now,
            "door_forced",
            device_id="AC-7",
            details={"device_class": "access_control"},
        ),
        alert_dict("offline:AC-8", A, "设备离线 AC-0000008", "minor", now, "device_offline", device_id="AC-8"),
    )
    page, errors = await watched_page(browser, viewport=PHONE)
    await login(page, board, "worker_a")
    row, kept = page.locator(f'.ticket[data-id="{both}"]'), page.locator(f'.ticket[data-id="{named_id}"]')
    await expect(row.locator(".title")).to_have_text("门被强行打开")
    await expect(kept.locator(".title")).to_have_text("设备离线 AC-0000008")  # an id is not English
    await row.click()
    await expect(page.get_by_test_id("detail-title")).to_have_text("紧急 门被强行打开")
    await expect(page.locator("#detail-body")).to_contain_text("门禁")
    await expect(page.locator("#detail-body")).not_to_contain_text("access_control")
    await page.click("#detail-close")
    await page.click("#lang")
    await expect(row.locator(".title")).to_have_text("Door forced open")
    await row.click()
    await expect(page.get_by_test_id("detail-title")).to_have_text("Critical Door forced open")
    await expect(page.locator("#detail-body")).to_contain_text("access door")
    assert errors == []


async def test_a_rules_own_title_per_language_follows_the_switch(board: str, browser: Browser) -> None:
    """A ticket whose rule gives a title per language shows that one, not a split of its one-string title."""
    from playwright.async_api import expect

    [tid] = await inject(
        board,
        alert_dict(
            "leak:WM-9",
            A,
            "漏水 Leak",
            "major",
            time.time(),
            "water_leak",
            titles={"zh-CN": "水表报漏水", "en": "Meter reports a leak"},
        ),
    )
    page, errors = await watched_page(browser, viewport=PHONE)
    await login(page, board, "worker_a")
    row = page.locator(f'.ticket[data-id="{tid}"]')
    await expect(row.locator(".title")).to_have_text("水表报漏水")
    await page.click("#lang")
    await expect(row.locator(".title")).to_have_text("Meter reports a leak")
    await row.click()
    await expect(page.get_by_test_id("detail-title")).to_contain_text("Meter reports a leak")
    assert errors == []


async def test_the_details_show_labels_with_units_in_the_boards_language(board: str, browser: Browser) -> None:
    from playwright.async_api import expect

    details = {"device_class": "water_meter", "volume_m3": 12.5, "flow_lpm": 3.2, "leak": True, "mystery_key": 7}
    [tid] = await inject(
        board,
        alert_dict("leak:WM-19", A, "漏水 Water leak", "major", time.time(), "water_leak", details=details),
    )
    page, errors = await watched_page(browser)
    await login(page, board, "worker_a")
    await page.locator(f'.ticket[data-id="{tid}"]').click()
    terms = page.locator("#detail-body dt")
    await expect(terms.filter(has_text="表读数（立方米）")).to_have_count(1)
    await expect(terms.filter(has_text="流量（升/分钟）")).to_have_count(1)
    await expect(terms.filter(has_text="mystery_key")).to_have_count(1)  # no label: its name
    await page.click("#lang")
    await expect(terms.filter(has_text="Meter reading (m³)")).to_have_count(1)
    await expect(terms.filter(has_text="Flow (l/min)")).to_have_count(1)
    await expect(terms.filter(has_text="Leak")).to_have_count(1)
    await expect(page.locator("#detail-body")).not_to_contain_text("volume_m3")
    assert errors == []
