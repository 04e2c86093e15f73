"""The site plan on the board in real headless Chromium: buildings of the viewer's scope placed from their
coordinates, a marker by severity where tickets are, and a drill-down from a building to its units that opens
a ticket."""

from __future__ import annotations

import time

import pytest

from devices.model import DeviceClass
from devices.sample import sample_street

from .board_app import alert_dict
from .evidence_data import first_device
from .test_board_browser import ARGS, CHROMIUM, A, board, inject, login, watch_errors

__all__ = ["board"]

pytestmark = pytest.mark.browser

REG = sample_street(start=None)


async def test_the_plan_marks_buildings_with_tickets_and_drills_down_to_units(board: str) -> None:
    from playwright.async_api import async_playwright, expect

    now = time.time()
    meter = first_device(REG, A, DeviceClass.WATER_METER, watched=True)
    hh = REG.households[meter.household_id or ""]
    building = REG.buildings[hh.building_id]
    crit, _ = await inject(
        board,
        # a household's ticket without a building: placed through the household
        alert_dict(
            f"elderly_no_water:{hh.id}", A, "独居老人未用水", "critical", now, "elderly_no_water", household_id=hh.id
        ),
        alert_dict("bin_full:plan", A, "垃圾桶满溢", "minor", now, "bin_full", building_id=building.id),
    )
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await (await browser.new_context(viewport={"width": 1440, "height": 900})).new_page()
            errors: list[str] = []
            watch_errors(page, errors)
            await login(page, board, "leader_a")
            await page.click("#plan-toggle")
            in_scope = sum(b.microgrid_id == A for b in REG.buildings.values())
            await expect(page.get_by_test_id("plan-building")).to_have_count(in_scope)
            marker = page.locator(f'[data-testid="plan-marker"][data-building="{building.id}"]')
            await expect(marker).to_have_attribute("data-severity", "critical")  # the worst of its two
            await expect(marker).to_have_attribute("data-count", "2")

            await page.locator(f'.building[data-id="{building.id}"]').click()
            await expect(page.get_by_test_id("plan-drill-title")).to_contain_text(building.name)
            unit = page.locator(f'[data-testid="plan-unit"][data-id="{hh.id}"]')
            await expect(unit).to_have_class("unit sev-critical elderly")
            await page.get_by_test_id("plan-drill").get_by_role("button", name="独居老人未用水").click()
            await expect(page).to_have_url(f"{board}/tickets/{crit}")
            await expect(page.get_by_test_id("detail-title")).to_contain_text("独居老人未用水")
            assert errors == []
        finally:
            await browser.close()
