"""The board on a worker's phone (390×844) in real headless Chromium, measured with getBoundingClientRect: touch
targets of at least 44 px, the first ticket above the fold, the lone-elderly flag in the list row, and the
ticket's actions and close button on screen however far the detail scrolls."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from devices.sample import sample_street

from .board_app import alert_dict
from .browser import PHONE, watched_page
from .test_board_browser import PASSWORD, A, board, inject, login

__all__ = ["board"]

pytestmark = pytest.mark.browser

TOUCH_PX = 44
FOLD_PX = 200  # the first ticket's top edge: above it, with the rest of the first screen for the list


def watched_household() -> str:
    reg = sample_street(start=None)
    return next(h.id for h in reg.households.values() if h.care.watched and reg.microgrid_of(h.id) == A)


async def box(page: Any, selector: str) -> dict[str, float]:
    b: dict[str, float] = await page.locator(selector).first.evaluate(
        "e => { const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; }"
    )
    return b


async def test_the_phone_board_has_touch_targets_the_first_ticket_on_screen_and_a_fixed_action_bar(
    board: str,
    browser: Browser,
) -> None:
    from playwright.async_api import expect

    hh = watched_household()
    [tid] = await inject(
        board,
        alert_dict(
            f"elderly_no_water:{hh}",
            A,
            "独居老人长时间未用水",
            "major",
            time.time() - 600,
            "elderly_no_water",
            household_id=hh,
            details={f"field_{i}": "x" * 30 for i in range(30)},  # a long detail: the actions must stay on screen
        ),
    )
    page, errors = await watched_page(browser, viewport=PHONE, has_touch=True, is_mobile=True)
    await login(page, board, "worker_a")
    row = page.locator(f'.ticket[data-id="{tid}"]')
    await expect(row.get_by_test_id("lone-elderly")).to_be_visible()

    first = await box(page, ".ticket")
    assert first["y"] < FOLD_PX, first
    for selector in ("#f-mine", "label:has(#f-mine)", "#f-toggle", "#logout"):
        target = await box(page, selector)
        assert min(target["h"], target["w"]) >= TOUCH_PX, (selector, target)
    await page.click("#f-toggle")
    await expect(page.locator("#f-severity")).to_be_visible()
    assert (await box(page, "#f-severity"))["h"] >= TOUCH_PX

    await row.click()
    await expect(page.get_by_test_id("detail-title")).to_contain_text("未用水")
    await page.locator("#timeline").scroll_into_view_if_needed()
    for selector in ("#actions button", "#detail-close"):
        b = await box(page, selector)
        assert b["h"] >= TOUCH_PX, (selector, b)
        assert b["y"] >= 0, (selector, b)  # on screen
        assert b["y"] + b["h"] <= PHONE["height"], (selector, b)
    bar = await box(page, "#actbar")
    assert bar["y"] + bar["h"] == pytest.approx(PHONE["height"], abs=1)
    # the detail's end is not hidden under the bar: its last row scrolls above it
    await page.locator("#timeline li").last.scroll_into_view_if_needed()
    last = await box(page, "#timeline li >> nth=-1")
    assert last["y"] + last["h"] <= (await box(page, "#actbar"))["y"] + 1
    assert errors == []


async def test_silences_fold_into_one_line_on_a_phone_so_the_first_ticket_stays_near_the_top(
    board: str, browser: Browser
) -> None:
    """A micro-grid with a silence on each of its buildings: on a phone they take one line, which opens them,
    and the first ticket stays where it is without them."""
    reg = sample_street(start=None)
    buildings = [b.id for b in reg.buildings.values() if reg.microgrid_of(b.id) == A]
    silences: list[int] = []
    async with httpx.AsyncClient(base_url=board) as client:
        r = await client.post("/api/v1/auth/login", json={"username": "leader_a", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        for b in buildings:
            body = {"scope_id": b, "comment": f"{b} 水表更换，施工期间请勿打扰住户", "duration_s": 3600}
            made = await client.post("/api/v1/silences", json=body, headers=headers)
            made.raise_for_status()
            silences.append(made.json()["id"])
        try:
            await inject(board, alert_dict("trash_full:TB-fold", A, "垃圾桶满溢", "warning", time.time(), "trash_full"))
            await _folded(browser, board, len(buildings))
        finally:  # the module's other tests see the board without them
            for sid in silences:
                await client.post(f"/api/v1/silences/{sid}/cancel", headers=headers)


async def _folded(browser: Browser, board: str, n: int) -> None:
    from playwright.async_api import expect

    page, errors = await watched_page(browser, viewport=PHONE, has_touch=True, is_mobile=True)
    await login(page, board, "worker_a")
    toggle = page.locator("#silences-toggle")
    await expect(toggle).to_contain_text(str(n))
    await expect(page.get_by_test_id("silence").first).to_be_hidden()
    assert (await box(page, "#silences-toggle"))["h"] >= TOUCH_PX
    first = await box(page, ".ticket")
    assert first["y"] < FOLD_PX + TOUCH_PX, first  # the folded line's height, no more
    await toggle.click()
    await expect(page.get_by_test_id("silence")).to_have_count(n)
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    assert errors == []
