"""'Away confirmed' on the board, as a grid worker on a phone (real headless Chromium): a lone elderly
resident's no-water ticket shows whether the household is recorded away; an away too long, in the past or
without a reason is refused with the server's reason in the board's language; one that fits is shown with its
reason and who recorded it, audited, passed to the rule engine, and ended early from the same place."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, ViewportSize

from alerts.audit import AuditLog
from core.db import make_engine
from devices.model import Role
from devices.sample import sample_street

from .board_app import Login, alert_dict, build_app, serve
from .browser import PHONE, watch_errors
from .test_board_browser import PASSWORD, A, inject, login

pytestmark = pytest.mark.browser

ZONE = "Asia/Shanghai"
REGISTRY_AWAY = datetime(2099, 1, 1, 8, 0, tzinfo=ZoneInfo(ZONE))
ELSEWHERE = "America/Los_Angeles"  # a browser's zone not the street's: there the registry's away ends in 2098
TOUCH_PX = 44


@dataclass
class Board:
    url: str
    app: FastAPI
    db: Path
    household: str
    listed: str  # held away by the registry
    ended: str  # held away by the registry too, until water use ends it (`away_ends_on_use`)


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    reg = sample_street(start=None)
    wa = reg.people_at(A, Role.GRID_WORKER)[0]
    watched = [h.id for h in reg.households.values() if h.care.watched and reg.microgrid_of(h.id) == A]
    household, listed, ended = watched[:3]
    # the second and third are held away by the registry (households.csv's away_until, an operator's import)
    held = [reg.households[h] for h in (listed, ended)]
    reg = reg.with_changes(
        households=[replace(h, care=replace(h.care, away_until=REGISTRY_AWAY, away_reason="住院")) for h in held]
    )
    db = tmp_path_factory.mktemp("away") / "board.db"
    app = build_app(
        db,
        reg,
        [Login("worker_a", PASSWORD, Role.GRID_WORKER, A, wa.name, wa.id)],
        tz=ZoneInfo(ZONE),
        aways=True,
    )
    with serve(app) as url:
        yield Board(url, app, db, household, listed, ended)


def typed(at: datetime) -> str:
    """What a person types into the board's datetime field: the time on the street's (and the phone's) clocks."""
    return at.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M")


async def test_a_phone_user_records_an_away_is_told_why_one_is_refused_and_ends_it(
    board: Board, browser: Browser
) -> None:
    from playwright.async_api import expect

    [tid] = await inject(
        board.url,
        alert_dict(
            f"elderly_no_water:{board.household}",
            A,
            "独居老人12小时未用水",
            "major",
            time.time() - 600,
            "elderly_no_water",
            household_id=board.household,
        ),
    )
    now = datetime.now(ZoneInfo(ZONE))
    context = await browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, timezone_id=ZONE)
    page = await context.new_page()
    errors: list[str] = []
    watch_errors(page, errors)
    await login(page, board.url, "worker_a")
    await page.locator(f'.ticket[data-id="{tid}"]').click()
    state, error = page.get_by_test_id("away-state"), page.get_by_test_id("away-error")
    await expect(state).to_have_text("未登记外出：照常关注用水。")
    await expect(page.locator("#away-end")).to_be_hidden()
    for selector in ("#away-until", "#away-reason", "#away-submit"):
        b: dict[str, float] = await page.locator(selector).evaluate(
            "e => { const r = e.getBoundingClientRect(); return {w: r.width, h: r.height}; }"
        )
        assert min(b["w"], b["h"]) >= TOUCH_PX, (selector, b)

    async def record(until: str, reason: str) -> None:
        await page.fill("#away-until", until)
        await page.fill("#away-reason", reason)
        await page.click("#away-submit")

    for until, reason, why in (
        (typed(now + timedelta(days=31)), "住院", "外出最长 30 天；到期后仍外出请再次登记"),
        (typed(now - timedelta(days=1)), "住院", "外出必须在将来结束"),
        (typed(now + timedelta(days=5)), "  ", "请说明住户外出的原因（出行、住院等）"),
        ("", "住院", "until: 应为有效的日期时间，如 2026-12-09T08:00:00+08:00"),
    ):
        await record(until, reason)
        await expect(error).to_have_text(why)
        await expect(state).to_have_text("未登记外出：照常关注用水。")
    assert board.app.state.answers.given == []

    until = (now + timedelta(days=5)).replace(second=0, microsecond=0)
    await record(typed(until), "住院观察 一周")
    await expect(state).to_contain_text("住院观察 一周")
    await expect(state).to_contain_text("worker_a")
    await expect(error).to_have_text("")
    assert board.app.state.answers.given == [(board.household, until.timestamp())]

    # in the board's other language (switched above the list: the detail covers a phone's screen)
    await page.click("#detail-close")
    await page.click("#lang")
    await page.locator(f'.ticket[data-id="{tid}"]').click()
    await expect(state).to_contain_text("Away until")
    await expect(state).to_contain_text("住院观察 一周 (recorded by worker_a")

    await page.click("#away-end")
    await expect(state).to_have_text("Not recorded away: water use is watched.")
    assert board.app.state.answers.given[-1] == (board.household, None)
    assert errors == []
    engine = make_engine(f"sqlite+aiosqlite:///{board.db}")
    try:
        entries = await AuditLog(engine).list(action="household.")
    finally:
        await engine.dispose()
    assert [(e.action, e.actor, e.target) for e in entries] == [
        ("household.away_end", "worker_a", board.household),
        ("household.away", "worker_a", board.household),
    ]
    assert entries[1].details == {"until": until.timestamp(), "reason": "住院观察 一周"}


@pytest.mark.parametrize(
    ("viewport", "english", "said"),
    [
        (PHONE, False, "住户登记表中外出至 2099-01-01 08:00:00：住院（运营人员导入），期间不报未用水。"),
        (
            {"width": 1440, "height": 900},
            True,
            "The registry holds the household away until 2099-01-01 08:00:00: 住院 (an operator's import); "
            "no-water alerts are held until then.",
        ),
    ],
)
async def test_an_away_the_registry_holds_is_said_on_the_board(
    board: Board, viewport: ViewportSize, english: bool, said: str, browser: Browser
) -> None:
    """The away's end with its year (it is not this year's), in the board's language, on a phone and a desk; on
    the street's clocks, whatever the browser's zone (in Los Angeles that moment is still 2098)."""
    from playwright.async_api import expect

    [tid] = await inject(
        board.url,
        alert_dict(
            f"elderly_no_water:{board.listed}",
            A,
            "独居老人12小时未用水",
            "major",
            time.time() - 600,
            "elderly_no_water",
            household_id=board.listed,
        ),
    )
    page = await (await browser.new_context(viewport=viewport, timezone_id=ELSEWHERE)).new_page()
    await login(page, board.url, "worker_a")
    if english:
        await page.click("#lang")
    await page.locator(f'.ticket[data-id="{tid}"]').click()
    await expect(page.get_by_test_id("away-state")).to_have_text(said)


def on_the_board(ts: float) -> str:
    """`ts` on the street's clocks as the board writes it: with the year when it is not the current one."""
    at, now = datetime.fromtimestamp(ts, ZoneInfo(ZONE)), datetime.now(ZoneInfo(ZONE))
    day = f"{at.month}-{at.day:02d}" if at.year == now.year else at.strftime("%Y-%m-%d")
    return f"{day} {at:%H:%M:%S}"


async def test_the_registrys_away_ended_by_water_use_is_said_with_its_reading(board: Board, browser: Browser) -> None:
    """Water use ended the registry's away in the rules (`away_ends_on_use`): the board says it ended, when and
    by which meter's reading, and that water use is watched again, not that the away holds; on the street's
    clocks, from a browser in another zone."""
    from playwright.async_api import expect

    meter = "WM-0000008"
    used_at = float(int(time.time()) // 3600 * 3600 - 3600)
    ticket = alert_dict(
        f"elderly_no_water:{board.ended}",
        A,
        "独居老人12小时未用水",
        "major",
        time.time() - 600,
        "elderly_no_water",
        household_id=board.ended,
    )
    signal = alert_dict(  # what the absence rule sends (`rules.kinds.absence`): news, no ticket
        f"elderly_no_water:{board.ended}:away_ended",
        A,
        "外出提前结束 away ended by water use",
        "info",
        used_at,
        "elderly_no_water",
        action="clear",
        household_id=board.ended,
        device_id=meter,
        details={
            "signal": "away_ended",
            "used_at": used_at,
            "read_at": used_at + 3600,
            "was_until": REGISTRY_AWAY.timestamp(),
            "registry_until": REGISTRY_AWAY.timestamp(),
        },
    )
    [tid] = await inject(board.url, ticket, signal)
    used, read = on_the_board(used_at), on_the_board(used_at + 3600)
    page = await (await browser.new_context(viewport=PHONE, timezone_id=ELSEWHERE)).new_page()
    await login(page, board.url, "worker_a")
    await page.locator(f'.ticket[data-id="{tid}"]').click()
    state = page.get_by_test_id("away-state")
    await expect(state).to_have_text(
        "住户登记表中外出至 2099-01-01 08:00:00：住院（运营人员导入），已因用水提前结束："
        f"{meter}（水表） 在 {read} 的读数显示 {used} 起用过水。照常关注用水。"
    )
    await page.click("#detail-close")
    await page.click("#lang")
    await page.locator(f'.ticket[data-id="{tid}"]').click()
    await expect(state).to_have_text(
        "The registry held the household away until 2099-01-01 08:00:00: 住院 (an operator's import); "
        f"water use ended it: the reading of {meter}（水表） at {read} showed water used from {used}. "
        "Water use is watched again."
    )


async def test_a_ticket_from_last_year_is_dated_with_its_year_on_the_browsers_clocks(
    board: Board, browser: Browser
) -> None:
    """A ticket's times are on the browser's clocks: one from last year there is written with its year (it would
    read as this year's)."""
    from playwright.async_api import expect

    seen = time.time() - 400 * 86_400
    [tid] = await inject(
        board.url,
        alert_dict(
            f"water_leak:{board.household}", A, "漏水", "major", seen, "water_leak", household_id=board.household
        ),
    )
    page = await (await browser.new_context(viewport=PHONE, timezone_id=ELSEWHERE)).new_page()
    await login(page, board.url, "worker_a")
    await page.locator(f'.ticket[data-id="{tid}"]').click()
    there = datetime.fromtimestamp(seen, ZoneInfo(ELSEWHERE))
    await expect(page.locator("#detail")).to_contain_text(f"{there:%Y-%m-%d %H:%M:%S}")
