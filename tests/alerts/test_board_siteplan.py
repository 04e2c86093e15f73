"""The site plan on the board in real headless Chromium: buildings of the viewer's scope placed from their
coordinates, a marker by severity where tickets are, and a drill-down from a building to its units that opens
a ticket; map tiles under it only when a tile URL is set."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser

from devices.model import DeviceClass, Role
from devices.sample import sample_street
from testkit.services import free_port

from .board_app import Login, alert_dict, build_app, serve
from .browser import PHONE, watched_page
from .evidence_data import first_device
from .test_board_browser import PASSWORD, A, board, inject, login

__all__ = ["board"]

pytestmark = pytest.mark.browser

REG = sample_street(start=None)


async def test_the_plan_marks_buildings_with_tickets_and_drills_down_to_units(board: str, browser: Browser) -> None:
    from playwright.async_api import expect

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
    page, errors = await watched_page(browser, viewport={"width": 1440, "height": 900})
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


async def test_on_a_phone_each_building_of_the_plan_is_a_touch_target(board: str, browser: Browser) -> None:
    """The plan draws a micro-grid's buildings a dozen pixels wide on a phone; each still answers a tap anywhere
    within 44 px across, and the tap drills into it."""
    from playwright.async_api import expect

    building = next(b for b in REG.buildings.values() if b.microgrid_id == A)
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = await context.new_page()
    await login(page, board, "worker_a")
    await page.click("#f-toggle")
    await page.click("#plan-toggle")
    target = page.locator(f'.building[data-id="{building.id}"]')
    await expect(target).to_be_visible()
    box = await target.bounding_box()
    assert box is not None
    assert min(box["width"], box["height"]) >= 44 - 1, box
    # a tap off the drawn building but within its reach
    await page.touchscreen.tap(box["x"] + box["width"] / 2 + 15, box["y"] + box["height"] / 2)
    await expect(page.get_by_test_id("plan-drill-title")).to_contain_text(building.name)


@pytest.fixture
def tiled(tmp_path: Path) -> Iterator[tuple[str, FastAPI]]:
    """A board whose site plan draws tiles from its own /test/tiles (its own origin: CSP 'self')."""
    port = free_port()
    worker = REG.people_at(A, Role.GRID_WORKER)[0]
    logins = [Login("worker_a", PASSWORD, Role.GRID_WORKER, A, worker.name, worker.id)]
    app = build_app(
        tmp_path / "b.db", REG, logins, tile_url=f"http://127.0.0.1:{port}/test/tiles/{{z}}/{{x}}/{{y}}.png"
    )
    with serve(app, port=port) as url:
        yield url, app


async def test_a_tile_url_draws_map_tiles_under_the_plan(tiled: tuple[str, FastAPI], browser: Browser) -> None:
    from playwright.async_api import expect

    url, app = tiled
    page, errors = await watched_page(browser)
    await login(page, url, "worker_a")
    await page.click("#plan-toggle")
    tiles = page.locator("svg.plan image.tile")
    await expect(tiles.first).to_be_attached()
    hrefs = await tiles.evaluate_all("images => images.map(i => i.getAttribute('href'))")
    pattern = re.compile(rf"{re.escape(url)}/test/tiles/(\d+)/(\d+)/(\d+)\.png")
    zooms = set()
    for href in hrefs:
        m = pattern.fullmatch(href)
        assert m is not None, href
        zooms.add(int(m[1]))
    assert len(zooms) == 1  # one zoom: the one the buildings fit
    assert 14 <= zooms.pop() <= 19  # a micro-grid is a few hundred metres across
    await page.wait_for_function(
        "n => performance.getEntriesByType('resource').filter(r => r.name.includes('/tiles/')).length >= n",
        arg=len(hrefs),
    )
    assert len(app.state.tiles) >= len(hrefs)  # the browser fetched them
    assert errors == []
