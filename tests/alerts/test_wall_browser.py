"""The wall at /wall in real headless Chromium at 1920×1080: large type, counts and overdue per community and
grid, criticals pinned and flashing (still under reduced motion), live updates, the list scrolling by itself,
the site plan, no buttons, scoped like the board (the street's account sees every community, a community's only
its own)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Browser

from devices.model import Role
from devices.sample import sample_street

from .a11y import AA, text_style, unlabelled
from .board_app import Login, MovableClock, alert_dict, build_app, serve
from .browser import watched_page
from .test_board_browser import PASSWORD, inject

pytestmark = pytest.mark.browser

WALL = {"width": 1920, "height": 1080}
REG = sample_street(start=None)
YG, HP = "mg-yg-1-1", "mg-hp-1-1"  # micro-grids of two communities
LARGE_PX = 24  # main text on the wall: readable from 3 m
SMALL_PX = 20  # what is under it (places, labels)


@pytest.fixture(scope="module")
def wall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, MovableClock]]:
    clock = MovableClock()
    logins = [
        Login("street", PASSWORD, Role.STREET_DUTY, "xf", "街道值班"),
        Login("duty_yg", PASSWORD, Role.COMMUNITY_DUTY, "c-yg", "阳光社区值班"),
    ]
    with serve(build_app(tmp_path_factory.mktemp("wall") / "b.db", REG, logins, clock)) as url:
        yield url, clock


async def sign_in(page: Any, url: str, username: str) -> None:
    await page.goto(url + "/wall")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-btn")
    await page.wait_for_selector("#wall:not([hidden])")


async def test_the_wall_shows_counts_per_area_pins_criticals_and_scrolls(
    wall: tuple[str, MovableClock], browser: Browser
) -> None:
    from playwright.async_api import expect

    url, clock = wall
    now = clock.now()
    [late] = await inject(
        url, alert_dict("door_held_open:late", YG, "单元门长时间未关", "major", now, "door_held_open")
    )
    clock.move(6 * 3600)  # past its deadlines: overdue
    now = clock.now()
    [crit] = await inject(url, alert_dict("gas_leak:wall", HP, "燃气泄漏：和平社区", "critical", now, "gas_leak"))
    many = await inject(
        url,
        *[
            alert_dict(f"trash_full:wall-{i}", YG, f"垃圾桶满溢 {i}", "warning", now - i, f"trash_full_{i % 3}")
            for i in range(30)
        ],
    )
    page, errors = await watched_page(browser, viewport=WALL)
    await sign_in(page, url, "street")
    pinned = page.get_by_test_id("criticals").locator(f'[data-id="{crit}"]')
    await expect(pinned).to_contain_text("燃气泄漏")
    assert await pinned.evaluate("e => getComputedStyle(e).animationName") == "wall-flash"
    await expect(page.locator("#t-active")).to_have_text(str(2 + len(many)))
    await expect(page.locator("#t-overdue")).to_have_text("1")
    # per community and grid: the street sees all three communities, each with its own counts
    communities = page.get_by_test_id("area-community")
    await expect(communities).to_have_count(len(REG.communities))
    await expect(page.locator('[data-testid="area-community"][data-id="c-yg"] td')).to_have_text(
        [str(1 + len(many)), "1", "0"]
    )
    await expect(page.locator('[data-testid="area-community"][data-id="c-hp"] td')).to_have_text(["1", "0", "1"])
    grid = REG.microgrids[YG].grid_id
    await expect(page.locator(f'[data-testid="area-grid"][data-id="{grid}"] td')).to_have_text(
        [str(1 + len(many)), "1", "0"]
    )
    await expect(page.locator(f'#rest [data-id="{late}"]')).to_contain_text("超时")
    # the site plan with markers; nothing to press
    await expect(page.get_by_test_id("plan-building")).to_have_count(len(REG.buildings))
    assert await page.locator("#wall button:visible").count() == 0
    # the list scrolls by itself
    await page.wait_for_function("() => document.getElementById('scroller').scrollTop > 20")
    # large type with contrast
    for selector, least in (
        (".wall-ticket .title", LARGE_PX),
        (".areas tbody th", LARGE_PX),
        ("#clock", LARGE_PX),
        (".wall-ticket .meta", SMALL_PX),
        (".big span", SMALL_PX),
    ):
        ratio, size = await text_style(page, selector)
        assert size >= least, (selector, size)
        assert ratio >= AA, (selector, ratio)
    assert await unlabelled(page) == []
    assert errors == []


async def test_a_community_wall_is_scoped_and_criticals_stay_still_under_reduced_motion(
    wall: tuple[str, MovableClock],
    browser: Browser,
) -> None:
    from playwright.async_api import expect

    url, clock = wall
    [other] = await inject(url, alert_dict("gas_leak:hp-2", HP, "燃气泄漏：和平", "critical", clock.now(), "gas_leak"))
    [mine] = await inject(
        url, alert_dict("smoke_alarm:yg-2", YG, "烟感报警：阳光", "critical", clock.now(), "smoke_alarm")
    )
    page, errors = await watched_page(browser, viewport=WALL, reduced_motion="reduce")
    await sign_in(page, url, "duty_yg")
    pinned = page.get_by_test_id("criticals").locator(f'[data-id="{mine}"]')
    await expect(pinned).to_be_visible()
    assert await pinned.evaluate("e => getComputedStyle(e).animationName") == "none"
    await expect(page.locator(f'[data-id="{other}"]')).to_have_count(0)
    await expect(page.get_by_test_id("area-community")).to_have_count(1)
    in_scope = sum(REG.community_of(b) == "c-yg" for b in REG.buildings)
    await expect(page.get_by_test_id("plan-building")).to_have_count(in_scope)
    # live: a new critical is pinned without a reload (the stream), another community's is not
    now = clock.now()
    [new] = await inject(url, alert_dict("trash_fire:yg-3", YG, "垃圾桶起火：阳光", "critical", now, "trash_fire"))
    [elsewhere] = await inject(
        url, alert_dict("trash_fire:hp-3", HP, "垃圾桶起火：和平", "critical", now, "trash_fire")
    )
    await expect(page.get_by_test_id("criticals").locator(f'[data-id="{new}"]')).to_contain_text("垃圾桶起火")
    await expect(page.locator(f'[data-id="{elsewhere}"]')).to_have_count(0)
    assert errors == []


def true_aspect() -> float:
    """Width over height of the sample street's buildings (their centres) in Web Mercator, as maps draw them."""
    placed = [b for b in REG.buildings.values() if b.lat is not None and b.lon is not None]
    xs = [(b.lon + 180) / 360 for b in placed]
    ys = [
        (1 - math.log(math.tan(math.radians(b.lat)) + 1 / math.cos(math.radians(b.lat))) / math.pi) / 2 for b in placed
    ]
    return (max(xs) - min(xs)) / (max(ys) - min(ys))


async def test_the_wall_plan_keeps_the_streets_proportions_and_is_readable_from_3_m(
    wall: tuple[str, MovableClock],
    browser: Browser,
) -> None:
    from playwright.async_api import expect

    page, errors = await watched_page(browser, viewport=WALL)
    await sign_in(page, wall[0], "street")
    await expect(page.get_by_test_id("plan-building")).to_have_count(len(REG.buildings))
    # the plan is drawn before its box is laid out on a busy machine: measure once every shape has a size
    await page.wait_for_function(
        """() => [...document.querySelectorAll('#plan [data-testid=plan-building] rect')]
            .every(e => e.getBoundingClientRect().width > 0)""",
        timeout=20_000,
    )
    # rendered sizes on the screen, in CSS pixels (the drawing scales with its box)
    shapes = await page.eval_on_selector_all(
        "#plan [data-testid=plan-building] rect, #plan .mg-name, #plan .area-name",
        """es => es.map(e => { const r = e.getBoundingClientRect();
            return [e.tagName === 'rect' ? 'building' : e.getAttribute('class'), r.left, r.top, r.width,
                    r.height, parseFloat(getComputedStyle(e).fontSize)]; })""",
    )
    box = await page.get_by_test_id("plan").bounding_box()
    assert box is not None
    buildings = [s for s in shapes if s[0] == "building"]
    assert min(w for _, _, _, w, _, _ in buildings) >= 18, "buildings too small to see from 3 m"
    names = [s for s in shapes if s[0] == "mg-name"]
    assert len(names) == len(REG.microgrids), "every compound named"
    assert min(f for *_, f in names) >= SMALL_PX
    assert min(f for c, *_, f in shapes if c == "area-name") >= LARGE_PX
    # the buildings keep their true proportions (the plan is letterboxed in its box), and fill it one way
    xs = [x + w / 2 for _, x, _, w, _, _ in buildings]
    ys = [y + h / 2 for _, _, y, _, h, _ in buildings]
    wide, high = max(xs) - min(xs), max(ys) - min(ys)
    assert wide / high == pytest.approx(true_aspect(), rel=0.03)
    assert wide >= 0.7 * box["width"] or high >= 0.6 * box["height"]
    assert errors == []
