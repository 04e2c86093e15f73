"""Evidence charts in real headless Chromium, read from a real SQLite telemetry store: a lone elderly resident's
no-water ticket draws 72 h of water use against the household's usual use; a smoke alarm draws the detector's
recent values; a ticket without readings draws nothing."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from core.clock import ManualClock
from devices.model import DeviceClass, Role
from devices.sample import sample_street

from .board_app import Login, alert_dict, build_app, serve
from .browser import PHONE, watched_page
from .evidence_data import first_device, smoke_rise, water_history
from .test_board_browser import PASSWORD, A, inject, login

pytestmark = pytest.mark.browser

REG = sample_street(start=None)


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ManualClock]]:
    """The board, its service clock set by each test to the moment its readings end: the chart is drawn for that
    hour even when the wall clock's hour turns before the page asks for it (the hour after would be a gap)."""
    worker = REG.people_at(A, Role.GRID_WORKER)[0]
    folder = tmp_path_factory.mktemp("evidence")
    logins = [Login("worker_a", PASSWORD, Role.GRID_WORKER, A, worker.name, worker.id)]
    clock = ManualClock(time.time())
    with serve(build_app(folder / "board.db", REG, logins, clock, telemetry_path=folder / "telemetry.db")) as url:
        yield url, clock


async def store(url: str, readings: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        r = await client.post("/test/readings", json=readings)
        r.raise_for_status()
        assert r.json() == len(readings)


async def test_a_no_water_ticket_shows_the_households_use_against_its_routine(
    board: tuple[str, ManualClock], browser: Browser
) -> None:
    from playwright.async_api import expect

    url, clock = board
    now = time.time()
    clock.set(now)
    meter = first_device(REG, A, DeviceClass.WATER_METER, watched=True)
    await store(url, water_history(REG, meter, now, quiet_h=14))
    [tid] = await inject(
        url,
        alert_dict(
            f"elderly_no_water:{meter.household_id}",
            A,
            "独居老人 14 小时未用水",
            "major",
            now - 60,
            "elderly_no_water",
            household_id=meter.household_id,
            building_id=meter.building_id,
        ),
    )
    page, errors = await watched_page(browser, viewport=PHONE)
    await login(page, url, "worker_a")
    await page.click(f'.ticket[data-id="{tid}"]')
    chart = page.locator("#evidence svg.chart.water")
    await expect(chart).to_be_visible()
    label = await chart.get_attribute("aria-label") or ""
    quiet = re.search(r"已 (\d+(?:\.\d)?) 小时未用水，平时最长 (\d+(?:\.\d)?) 小时", label)
    assert quiet is not None, label
    # quiet since the last routine use before the 14 h stop (the routine's longest pause is 10 h)
    assert 14 <= float(quiet[1]) <= 24, label
    assert float(quiet[2]) < 14, label  # the household is usually quiet for less than that
    assert await page.locator("#evidence .usual rect").count() == 72  # the routine is known at every hour
    # readings cover every hour but the one in progress (hatched while less than half of it is known)
    assert await page.locator("#evidence .use rect.gap").count() <= 1
    assert await page.locator("#evidence .use rect:not(.gap)").count() >= 3 * 5  # the days' uses
    assert await page.locator("#evidence .marker.alarm").count() == 1
    width = await chart.evaluate("e => e.getBoundingClientRect().width")
    assert width <= PHONE["width"]  # fits the phone's screen
    assert errors == []


async def test_a_device_ticket_shows_its_values_and_one_without_readings_shows_none(
    board: tuple[str, ManualClock], browser: Browser
) -> None:
    from playwright.async_api import expect

    url, clock = board
    now = time.time()
    clock.set(now)
    detector = first_device(REG, A, DeviceClass.SMOKE_DETECTOR, watched=False)
    await store(url, smoke_rise(REG, detector, now))
    smoke, bare = await inject(
        url,
        alert_dict(
            f"smoke_alarm:{detector.id}", A, "烟感报警", "critical", now - 30, "smoke_alarm", device_id=detector.id
        ),
        alert_dict("door_forced:AC-none", A, "门禁被强行打开", "major", now, "door_forced"),
    )
    page, errors = await watched_page(browser)
    await login(page, url, "worker_a")
    await page.click(f'.ticket[data-id="{smoke}"]')
    charts = page.locator("#evidence svg.chart.device")
    await expect(charts).to_have_count(2)  # obscuration and temperature
    await expect(charts.first).to_have_attribute("aria-label", "烟雾浓度：最高 14 %/m，最近 14 %/m")
    path = await charts.first.locator("path.line").get_attribute("d")
    assert path is not None
    assert path.count("L") > 200  # one point per 15 minutes over 72 h, unbroken

    await page.click(f'.ticket[data-id="{bare}"]')
    await expect(page.get_by_test_id("detail-title")).to_contain_text("门禁")
    await expect(page.locator("#evidence")).to_be_hidden()
    assert errors == []
