"""The board's words in one language, in real headless Chromium: the notes the system writes in a ticket's
timeline (and one stored in both languages before notes had a code), statuses and roles as words, and the
resident's evaluation page in the browser's language or the one its link asks for."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from devices.model import Role
from devices.sample import sample_street

from .board_app import Login, alert_dict, build_app, serve
from .browser import PHONE, watch_errors, watched_page
from .test_board_browser import PASSWORD, inject, login

pytestmark = pytest.mark.browser
A = "mg-yg-1-1"


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    reg = sample_street(start=None)
    wa = reg.people_at(A, Role.GRID_WORKER)[0]
    la = reg.people_at(A, Role.MICROGRID_LEADER)[0]
    logins = [
        Login("worker_a", PASSWORD, Role.GRID_WORKER, A, wa.name, wa.id),
        Login("leader_a", PASSWORD, Role.MICROGRID_LEADER, A, la.name, la.id),
    ]
    db = tmp_path_factory.mktemp("words") / "board.db"
    with serve(build_app(db, reg, logins)) as url:
        yield url, db


@asynccontextmanager
async def api_as(url: str, username: str) -> AsyncIterator[httpx.AsyncClient]:
    """An API client signed in as `username`."""
    async with httpx.AsyncClient(base_url=url) as client:
        r = await client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        r.raise_for_status()
        client.headers["Authorization"] = f"Bearer {r.json()['token']}"
        yield client


def store_old_note(db: Path, ticket_id: int, note: str) -> None:
    """An event as the store wrote it before its notes had a code: the note in both languages, no `note_key`."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO ticket_events (ticket_id, at, actor, action, note, data) VALUES (?, ?, ?, ?, ?, ?)",
            (ticket_id, time.time(), "system", "cancel", note, json.dumps({"reason": "silenced"})),
        )


async def test_the_systems_notes_show_in_the_boards_language_alone(board: tuple[str, Path], browser: Browser) -> None:
    from playwright.async_api import expect

    url, db = board
    now = time.time()

    def leak(ts: float) -> dict[str, Any]:
        return alert_dict("leak:WM-31", A, "漏水 Leak", "major", ts, "water_leak", reopen_within=3600)

    def smoke(device: str, ts: float, **extra: Any) -> dict[str, Any]:
        return alert_dict(f"smoke_alarm:{device}", A, "烟感报警 Smoke alarm", "critical", ts, "smoke_alarm", **extra)

    # reopened: a person resolved it, and it fired again within its rule's `reopen_within`
    [reopened] = await inject(url, leak(now - 60))
    async with api_as(url, "worker_a") as client:
        (await client.post(f"/api/v1/tickets/{reopened}/resolve", json={"note": "阀门已关"})).raise_for_status()
    assert await inject(url, leak(now)) == [reopened]
    # confirmed by the service when its wait ended; withdrawn by the resident within its wait
    [confirmed] = await inject(url, smoke("SD-31", now - 50, action="pending", until=now - 10))
    await inject(url, smoke("SD-31", now - 10, details={"confirmed_by": "timeout"}))
    [withdrawn] = await inject(url, smoke("SD-32", now - 50, action="pending", until=now + 60))
    await inject(url, smoke("SD-32", now - 5, action="cancel", details={"event": "silenced"}))
    # and a note stored in both languages before notes had a code
    [legacy] = await inject(url, smoke("SD-33", now, action="pending", until=now + 60))
    store_old_note(db, legacy, "核实期内撤销告警 (withdrawn during its verification wait): silenced")

    said = {
        reopened: ("解决后不久再次告警，重新打开", "fired again soon after it was resolved"),
        confirmed: (
            "核实期结束后既无确认也无撤销，按告警处理",
            "neither confirmed nor withdrawn after its wait: an alarm",
        ),
        withdrawn: ("核实期内撤销告警: silenced", "withdrawn during its verification wait: silenced"),
        legacy: ("核实期内撤销告警: silenced", "withdrawn during its verification wait: silenced"),
    }
    page, errors = await watched_page(browser)
    await login(page, url, "worker_a")
    timeline = page.locator("#timeline")
    for lang in ("zh-CN", "en"):
        if lang == "en":
            await page.click("#lang")
            await expect(page.locator("#logout")).to_have_text("Log out")
        for tid, (zh, en) in said.items():
            await page.goto(f"{url}/tickets/{tid}")
            await expect(page.get_by_test_id("detail-title")).to_be_visible()
            notes = timeline.locator(".note")
            if lang == "en":
                await expect(notes.filter(has_text=en)).to_have_count(1)
                await expect(timeline).not_to_contain_text(zh.split(":")[0])
            else:
                await expect(notes.filter(has_text=zh)).to_have_count(1)
                await expect(timeline).not_to_contain_text(en.split(":")[0])
    assert errors == []


async def test_statuses_and_roles_show_as_words_in_either_language(board: tuple[str, Path], browser: Browser) -> None:
    from playwright.async_api import expect

    url = board[0]
    [tid] = await inject(
        url, alert_dict("door:AC-31", A, "单元门未关 Door held open", "major", time.time(), "door_held_open")
    )
    page, errors = await watched_page(browser)
    await login(page, url, "leader_a")
    row = page.locator(f'.ticket[data-id="{tid}"]')
    await expect(row).to_contain_text("待确认")
    await expect(page.locator("#whoami")).to_contain_text("微网格长")
    await page.click("#lang")
    await expect(row.locator(".badge.st-open")).to_have_text("Open")
    await expect(page.locator("#whoami")).to_contain_text("Micro-grid leader")
    statuses = await page.locator("#f-status option").all_inner_texts()
    assert {"Open", "Acknowledged", "In progress", "Resolved", "Closed"} <= set(statuses), statuses

    await row.click()
    await page.click('[data-action="ack"]')
    await expect(row.locator(".badge.st-acknowledged")).to_have_text("Acknowledged")
    await expect(page.locator("#detail-body dd").filter(has_text="Acknowledged")).to_have_count(1)
    await expect(page.get_by_test_id("event").first).to_contain_text("Open → Acknowledged")
    # the roster to hand the ticket to: names with their roles as words
    await page.click('[data-action="assign"]')
    people = await page.locator("#assignee option").all_inner_texts()
    assert people
    assert all("(Grid worker)" in p or "(Micro-grid leader)" in p for p in people), people
    assert not any("grid_worker" in p or "grid worker)" in p for p in people), people
    assert errors == []


async def feedback_link(url: str, title: str) -> str:
    [tid] = await inject(url, alert_dict(f"leak:WM-{title}", A, title, "major", time.time(), "water_leak"))
    async with api_as(url, "leader_a") as client:
        (await client.post(f"/api/v1/tickets/{tid}/resolve", json={"note": "已关闭总阀"})).raise_for_status()
        r = await client.post(f"/api/v1/tickets/{tid}/feedback-link")
        r.raise_for_status()
        path: str = r.json()["path"]
        return path


async def test_the_evaluation_page_speaks_the_browsers_language_or_the_links(
    board: tuple[str, Path], browser: Browser
) -> None:
    from playwright.async_api import expect

    url = board[0]
    errors: list[str] = []

    async def open_page(path: str, locale: str) -> Any:
        page = await (await browser.new_context(viewport=PHONE, locale=locale)).new_page()
        watch_errors(page, errors)
        await page.goto(url + path)
        await expect(page.locator("#fb-form")).to_be_visible()
        return page

    # an English browser: English alone, the title's English part
    page = await open_page(await feedback_link(url, "漏水 Water leak"), "en-US")
    await expect(page.locator("h1")).to_have_text("Feedback")
    await expect(page.locator("#fb-title")).to_have_text("Water leak")
    await expect(page.locator("legend")).to_have_text("How satisfied are you?")
    await expect(page.locator('.star[data-rating="5"]')).to_have_text("★★★★★ very satisfied")
    await expect(page.locator("#fb-resolution")).to_have_text("What was done: 已关闭总阀")
    # the switch: Chinese alone
    await page.click("#lang")
    await expect(page.locator("h1")).to_have_text("社区服务评价")
    await expect(page.locator("#fb-title")).to_have_text("漏水")
    await expect(page.locator('.star[data-rating="5"]')).to_have_text("★★★★★ 非常满意")
    await expect(page.locator("main")).not_to_contain_text("satisfied")

    # a browser in neither language: Chinese; the link asking for English: English
    page = await open_page(await feedback_link(url, "燃气 Gas"), "fr-FR")
    await expect(page.locator("legend")).to_have_text("您对这次处理满意吗？")
    await expect(page.locator("main")).not_to_contain_text("satisfied")
    page = await open_page((await feedback_link(url, "烟感 Smoke")).replace("#", "?lang=en#"), "zh-CN")
    await expect(page.locator("legend")).to_have_text("How satisfied are you?")
    await page.click('.star[data-rating="4"]')
    await page.click("#fb-submit")
    await expect(page.locator("#fb-message")).to_have_text("Thank you!")
    assert errors == []
