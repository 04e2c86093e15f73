"""Accessibility basics of the board in real headless Chromium, on a desk (1440×900) and a phone (390×844): every
visible control has a name (a label, aria-label or its text), and the main text colours (titles, places, muted
labels, severity badges, buttons) contrast with what is behind them by at least WCAG AA's 4.5:1."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Browser

from .a11y import AA, text_style, unlabelled
from .board_app import alert_dict
from .browser import PHONE, watched_page
from .test_board_browser import A, board, inject, login

__all__ = ["board"]

pytestmark = pytest.mark.browser

DESK = {"width": 1440, "height": 900}
TEXTS = [
    ".ticket .title",
    ".ticket .meta",
    ".ticket .right",
    ".tile span",
    ".tile b",
    ".badge.sev-critical",
    ".badge.sev-major",
    ".badge.sev-minor",
    ".badge.sev-warning",
    ".badge.st-open",
    ".filters label",
    "#detail dt",
    "#detail dd",
    "#actions button",
    "#actions button.primary",
    ".timeline .when",
]


@pytest.mark.parametrize("viewport", [DESK, PHONE], ids=["desktop", "phone"])
async def test_controls_have_names_and_text_contrasts(board: str, viewport: dict[str, int], browser: Browser) -> None:
    from playwright.async_api import expect

    now = time.time()
    ids = await inject(
        board,
        *[
            alert_dict(f"{rule}:a11y-{viewport['width']}", A, f"{what}：桂花苑", sev, now, rule)
            for rule, what, sev in (
                ("gas_leak", "燃气泄漏", "critical"),
                ("thrown_object", "高空抛物", "major"),
                ("bin_full", "垃圾桶满溢", "minor"),
                ("low_battery", "电量低", "warning"),
            )
        ],
    )
    page, errors = await watched_page(browser, viewport=viewport)
    await login(page, board, "leader_a")
    await expect(page.locator(f'.ticket[data-id="{ids[-1]}"]')).to_be_visible()
    assert await unlabelled(page) == []
    if viewport == PHONE:
        await page.click("#f-toggle")
    assert await unlabelled(page) == []  # the filters panel too
    await page.click("#plan-toggle")
    await expect(page.get_by_test_id("plan-building").first).to_be_attached()
    await page.click(f'.ticket[data-id="{ids[0]}"]')
    await expect(page.get_by_test_id("event").first).to_be_visible()
    assert await unlabelled(page) == []
    await page.click('#actions button[data-action="comment"]')
    assert await unlabelled(page) == []  # the note form
    low = []
    for selector in TEXTS:
        ratio, _ = await text_style(page, selector)
        if ratio < AA:
            low.append((selector, round(ratio, 2)))
    assert low == [], low
    assert errors == []
