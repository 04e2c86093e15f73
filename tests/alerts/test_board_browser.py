"""The board in real headless Chromium: a worker logs in, sees and acknowledges their micro-grid's ticket; a
worker of another micro-grid does not see it; a new ticket appears live without a reload."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from devices.model import Role
from devices.sample import sample_street

from .board_app import Login, alert_dict, build_app, serve
from .browser import PHONE, watch_errors, watched_page

pytestmark = pytest.mark.browser

PASSWORD = "board-test-password"
A, B = "mg-yg-1-1", "mg-yg-1-2"


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    reg = sample_street(start=None)
    wa = reg.people_at(A, Role.GRID_WORKER)[0]
    wb = reg.people_at(B, Role.GRID_WORKER)[0]
    la = reg.people_at(A, Role.MICROGRID_LEADER)[0]
    logins = [
        Login("worker_a", PASSWORD, Role.GRID_WORKER, A, wa.name, wa.id),
        Login("worker_b", PASSWORD, Role.GRID_WORKER, B, wb.name, wb.id),
        Login("leader_a", PASSWORD, Role.MICROGRID_LEADER, A, la.name, la.id),
    ]
    app = build_app(tmp_path_factory.mktemp("board") / "board.db", reg, logins)
    with serve(app) as url:
        yield url


async def inject(url: str, *alerts: dict[str, Any]) -> list[int]:
    async with httpx.AsyncClient(base_url=url) as client:
        r = await client.post("/test/alerts", json=list(alerts))
        r.raise_for_status()
        ids: list[int] = r.json()
        return ids


async def login(page: Any, url: str, username: str) -> None:
    await page.goto(url + "/")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-btn")
    await page.wait_for_selector("#board-view:not([hidden])")


async def desk_and_phone(browser: Any, url: str, desk_user: str, phone_user: str) -> tuple[Any, Any, list[str]]:
    """Two people's boards, one on a desktop and one on a phone, logged in; the list collects the uncaught
    JavaScript errors and CSP violations of both (a test asserts it stays empty)."""
    desk = await (await browser.new_context()).new_page()
    phone = await (await browser.new_context(viewport=PHONE)).new_page()
    page_errors: list[str] = []
    for page in (desk, phone):
        watch_errors(page, page_errors)
    await login(desk, url, desk_user)
    await login(phone, url, phone_user)
    return desk, phone, page_errors


async def test_worker_acks_scoped_ticket_and_sees_new_ones_live(board: str, browser: Browser) -> None:
    from playwright.async_api import expect

    now = time.time()
    [tid] = await inject(
        board,
        alert_dict(
            "smoke_alarm:SD-0000001",
            A,
            "烟感报警：桂花苑1号楼 3F 楼梯间",
            "critical",
            now - 120,
            "smoke_alarm",
            device_id="SD-0000001",
            building_id="b-yg-1-1-01",
        ),
    )
    page_a, page_b, page_errors = await desk_and_phone(browser, board, "worker_a", "worker_b")

    # worker A sees the ticket of their micro-grid, opens it, acknowledges it
    ticket = page_a.locator(f'.ticket[data-id="{tid}"]')
    await expect(ticket).to_contain_text("烟感报警")
    await expect(ticket).to_contain_text("桂花苑1号楼")
    await ticket.click()
    await expect(page_a.get_by_test_id("detail-title")).to_contain_text("烟感报警")
    await page_a.click('#actions button[data-action="ack"]')
    await expect(page_a.get_by_test_id("event").first).to_contain_text("确认")
    worker_name = sample_street(start=None).people_at(A, Role.GRID_WORKER)[0].name
    await expect(page_a.get_by_test_id("event").first).to_contain_text(worker_name)  # a name, not a login
    await expect(ticket).to_contain_text("已确认")

    # worker B (another micro-grid) sees nothing, and the API answers 404 for that ticket
    await expect(page_b.locator("#empty")).to_be_visible()
    await expect(page_b.locator(f'.ticket[data-id="{tid}"]')).to_have_count(0)
    status = await page_b.evaluate(f"fetch('/api/v1/tickets/{tid}').then(r => r.status)")
    assert status == 404

    # new tickets appear live (SSE), each only on the board of its own micro-grid
    await expect(page_a.locator("#conn")).to_have_attribute("data-mode", "live")
    await expect(page_b.locator("#conn")).to_have_attribute("data-mode", "live")
    [t2] = await inject(
        board,
        alert_dict("thrown_object:CAM-0000001", A, "高空抛物：桂花苑1号楼", "major", time.time(), "thrown_object"),
    )
    [t3] = await inject(
        board,
        alert_dict("door_forced:AC-0000009", B, "门禁被强行打开：丹桂苑", "major", time.time(), "door_forced"),
    )
    await expect(page_a.locator(f'.ticket[data-id="{t2}"]')).to_contain_text("高空抛物")
    await expect(page_b.locator(f'.ticket[data-id="{t3}"]')).to_contain_text("门禁被强行打开")
    # B's stream delivered t3 after t2 (one hub, in order), so t2 had its chance and was filtered out
    await expect(page_b.locator(f'.ticket[data-id="{t2}"]')).to_have_count(0)
    await expect(page_a.locator(f'.ticket[data-id="{t3}"]')).to_have_count(0)
    await expect(page_a.locator("#s-active")).to_have_text("2")

    # an alert storm: acknowledge every open ticket at once
    [t4] = await inject(
        board, alert_dict("trash_fire:TB-1", A, "垃圾桶起火：桂花苑", "critical", time.time(), "trash_fire")
    )
    await expect(page_a.locator(f'.ticket[data-id="{t4}"]')).to_contain_text("垃圾桶起火")
    page_a.on("dialog", lambda dialog: dialog.accept())
    await page_a.click("#ack-all")
    for tid_ in (t2, t4):
        await expect(page_a.locator(f'.ticket[data-id="{tid_}"]')).to_contain_text("已确认")
    await expect(page_a.locator("#ack-all")).to_be_hidden()

    # a gateway failure: many meters of one micro-grid go offline -> one collapsed row, expandable
    offline = [
        alert_dict(f"device_offline:WM-{i}", A, f"水表离线：WM-{i}", "info", time.time(), "device_offline")
        for i in range(5)
    ]
    storm_ids = await inject(board, *offline)
    group = page_a.get_by_test_id("group")
    await expect(group).to_contain_text("水表离线 ×5")
    await expect(page_a.locator(f'.ticket[data-id="{storm_ids[0]}"]')).to_have_count(0)
    await group.click()
    for sid in storm_ids:
        await expect(page_a.locator(f'.ticket[data-id="{sid}"]')).to_have_count(1)
    assert page_errors == []  # no uncaught JavaScript error on either board


async def test_resident_rates_the_work_through_a_one_time_link(board: str, browser: Browser) -> None:
    from playwright.async_api import expect

    [tid] = await inject(
        board, alert_dict("water_leak:WM-77", A, "漏水：桂花苑2号楼 2-301", "major", time.time(), "water_leak")
    )
    async with httpx.AsyncClient(base_url=board) as client:
        r = await client.post("/api/v1/auth/login", json={"username": "leader_a", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        await client.post(f"/api/v1/tickets/{tid}/resolve", headers=headers, json={"note": "已关闭总阀并联系物业维修"})
        link = (await client.post(f"/api/v1/tickets/{tid}/feedback-link", headers=headers)).json()
        page, page_errors = await watched_page(browser, viewport=PHONE, locale="zh-CN")
        await page.goto(board + link["path"])
        await expect(page.locator("#fb-title")).to_have_text("漏水：桂花苑2号楼 2-301")
        await expect(page.locator("#fb-resolution")).to_contain_text("已关闭总阀")
        await page.click('.star[data-rating="4"]')
        await page.fill("#fb-comment", "师傅来得很快")
        await page.click("#fb-submit")
        await expect(page.locator("#fb-message")).to_contain_text("感谢")
        await page.reload()  # a second visit finds the link spent
        await expect(page.locator("#fb-message")).to_contain_text("已失效或已使用")
        assert page_errors == []
        detail = (await client.get(f"/api/v1/tickets/{tid}", headers=headers)).json()
    assert detail["rating"] == 4
    assert detail["timeline"][-1]["note"] == "师傅来得很快"


async def test_leader_silences_a_rule_for_maintenance_and_ends_it(board: str, browser: Browser) -> None:
    """A micro-grid leader opens a maintenance window from the board (the annual smoke-detector test): the scope
    is picked from their part of the tree, a preview says what it covers, raises of that rule open no ticket
    while it lasts, the same window twice is refused; a grid worker gets no such controls."""
    from playwright.async_api import expect

    worker, leader, page_errors = await desk_and_phone(browser, board, "worker_a", "leader_a")
    await expect(leader.locator("#silence-new")).to_be_visible()
    await expect(worker.locator("#silence-new")).to_be_hidden()

    # the scope is picked from the leader's own part of the tree, by name; another micro-grid is not offered
    await leader.click("#silence-new")
    await expect(leader.locator("#silence-scope")).to_have_value(A)
    offered = await leader.locator("#silence-scope option").evaluate_all("os => os.map(o => o.value)")
    assert A in offered
    assert B not in offered
    # the preview says what it would cover before anything is stored
    await expect(leader.get_by_test_id("silence-preview")).to_contain_text("台设备")
    await expect(leader.get_by_test_id("silence-preview")).to_contain_text("紧急告警照常")

    # the window shows on the board, and a matching raise opens no ticket
    await leader.select_option("#silence-scope", A)
    await leader.fill("#silence-rule", "low_battery")
    await leader.select_option("#silence-duration", "7200")
    await leader.fill("#silence-comment", "1号楼烟感年度测试")
    await leader.click("#silence-submit")
    window = leader.get_by_test_id("silence")
    await expect(window).to_contain_text("low_battery")
    await expect(window).to_contain_text("1号楼烟感年度测试")
    await expect(leader.locator("#silence-form")).to_be_hidden()
    opened = await inject(
        board, alert_dict("low_battery:SD-9", A, "烟感电量低：SD-9", "warning", time.time(), "low_battery")
    )
    assert opened == []
    # the same window again is refused with the server's reason, nothing more is stored
    await leader.click("#silence-new")
    await leader.select_option("#silence-scope", A)
    await leader.fill("#silence-rule", "low_battery")
    await leader.fill("#silence-comment", "重复")
    await leader.click("#silence-submit")
    await expect(leader.locator("#silence-error")).to_contain_text("已有相同的维护静默")
    # a weekly window (meter maintenance every Tuesday and Thursday morning) shows its days
    await leader.fill("#silence-rule", "device_offline")
    await leader.check("#silence-repeat")
    await leader.locator('#silence-days input[value="2"]').check()
    await leader.locator('#silence-days input[value="4"]').check()
    await leader.fill("#silence-end", "2099-12-31T00:00")
    await leader.fill("#silence-end", "")
    await leader.select_option("#silence-duration", "604800")
    await expect(leader.get_by_test_id("silence-preview")).to_contain_text("时段")
    await leader.fill("#silence-comment", "每周抄表维护")
    await leader.click("#silence-submit")
    await expect(leader.get_by_test_id("silence").filter(has_text="每周二、四 09:00-11:00")).to_have_count(1)
    weekly = leader.get_by_test_id("silence").filter(has_text="每周抄表维护")
    leader.once("dialog", lambda dialog: dialog.accept())
    await weekly.get_by_role("button").click()
    await expect(weekly).to_have_count(0)
    listed = await leader.evaluate("fetch('/api/v1/silences').then(r => r.json())")
    assert [(s["rule_id"], s["suppressed"], s["created_by"]) for s in listed["items"]] == [
        ("low_battery", 1, "leader_a")
    ]
    # the worker sees the window but may not end it
    await worker.reload()
    await expect(worker.get_by_test_id("silence")).to_contain_text("low_battery")
    await expect(worker.get_by_test_id("silence").get_by_role("button")).to_have_count(0)

    # ended early: gone from the board, and raises open tickets again
    leader.on("dialog", lambda dialog: dialog.accept())
    await window.get_by_role("button").click()
    await expect(leader.get_by_test_id("silence")).to_have_count(0)
    [tid] = await inject(
        board, alert_dict("low_battery:SD-9", A, "烟感电量低：SD-9", "warning", time.time(), "low_battery")
    )
    await expect(leader.locator(f'.ticket[data-id="{tid}"]')).to_contain_text("烟感电量低")

    # a half-typed silence does not outlive its author's session on a shared screen
    await leader.click("#silence-new")
    await leader.fill("#silence-comment", "草稿")
    await leader.click("#logout")
    await leader.fill("#username", "worker_a")  # on the same page, no reload
    await leader.fill("#password", PASSWORD)
    await leader.click("#login-btn")
    await leader.wait_for_selector("#board-view:not([hidden])")
    await expect(leader.locator("#silence-form")).to_be_hidden()
    await expect(leader.locator("#silence-new")).to_be_hidden()
    assert await leader.input_value("#silence-comment") == ""
    assert page_errors == []


async def test_the_board_runs_under_its_content_security_policy(board: str, browser: Browser) -> None:
    """Chromium receives the security headers and enforces them: the board and the feedback page load, log in
    and open a ticket on desktop and phone without one CSP violation, while an injected inline script is
    refused (so a violation, were the board to cause one, would be seen)."""
    from playwright.async_api import expect

    [tid] = await inject(
        board, alert_dict("smoke_alarm:SD-CSP", A, "烟感报警：CSP", "critical", time.time(), "smoke_alarm")
    )
    page = await (await browser.new_context()).new_page()
    response = await page.goto(board + "/")
    assert response is not None
    headers = await response.all_headers()
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"

    desk, phone, page_errors = await desk_and_phone(browser, board, "leader_a", "worker_a")
    for view in (desk, phone):
        await view.locator(f'.ticket[data-id="{tid}"]').click()
        await expect(view.get_by_test_id("detail-title")).to_contain_text("烟感报警")
    await desk.click("#silence-new")
    await expect(desk.locator("#silence-form")).to_be_visible()
    await phone.goto(board + "/feedback.html#no-such-token")
    await expect(phone.locator("#fb-message")).to_contain_text("失效")
    assert page_errors == []

    # the control: an inline script is refused and reported
    async with desk.expect_console_message(lambda m: "Content Security Policy" in m.text):
        await desk.evaluate(
            "() => { const s = document.createElement('script'); s.textContent = 'window.pwned = 1';"
            " document.body.append(s); }"
        )
    assert await desk.evaluate("() => window.pwned") is None


async def test_the_words_a_device_sends_read_as_words_in_the_detail(board: str, browser: Browser) -> None:
    """A camera's event and state, and the message's channel, read as words in the board's language, not as the
    protocol's `thrown_object` or `pulse`."""
    from playwright.async_api import expect

    details = {"channel": "event", "event": "thrown_object", "state": "pulse", "confidence": 0.91}
    [tid] = await inject(
        board, alert_dict("thrown:CAM-words", A, "高空抛物", "critical", time.time(), "thrown_object", details=details)
    )
    page = await (await browser.new_context()).new_page()
    await login(page, board, "worker_a")
    await page.locator(f'.ticket[data-id="{tid}"]').click()
    body = page.locator("#detail-body")
    await expect(body).to_contain_text("瞬时")
    await expect(body).to_contain_text("上报状态")
    for raw in ("thrown_object", "pulse"):
        await expect(body).not_to_contain_text(raw)
    await page.click("#lang")
    await expect(body).to_contain_text("object thrown")
    await expect(body).to_contain_text("instant")


async def test_the_silence_form_offers_the_scopes_devices_by_name_and_takes_a_typed_id(
    board: str, browser: Browser
) -> None:
    """The device is picked by where it is (building, door, label, class), narrowed by what is typed; an id typed
    in full is taken as it is, and the preview counts that one device."""
    from playwright.async_api import expect

    reg = sample_street(start=None)
    meter = next(d for d in reg.devices_under(A) if d.household_id is not None)
    door = f"{reg.buildings[meter.building_id].name} {reg.households[meter.household_id or ''].unit}"
    at_door = [d.id for d in reg.devices_under(A) if d.household_id == meter.household_id]
    page, errors = await watched_page(browser)
    await login(page, board, "leader_a")
    await page.click("#silence-new")
    await expect(page.locator("#silence-devices option").first).to_have_attribute("label", re.compile(" · "))
    await page.fill("#silence-device", door)
    options = page.locator("#silence-devices option")
    await expect(options).to_have_count(len(at_door))
    assert await options.evaluate_all("os => os.map(o => o.value)") == at_door
    option = page.locator(f'#silence-devices option[value="{meter.id}"]')
    await expect(option).to_have_attribute("label", f"{door} {meter.label} · 水表")
    await page.fill("#silence-device", meter.id)
    await page.locator("#silence-device").dispatch_event("change")
    await expect(page.get_by_test_id("silence-preview")).to_contain_text("将静默 1 台设备（水表 1）")
    await page.click("#silence-cancel-form")
    assert errors == []


async def test_the_silence_form_offers_rules_by_name_and_asks_for_the_days_in_words(
    board: str, browser: Browser
) -> None:
    """The rules offered are named (the value stays the id the API takes); a weekly window without its days says
    so instead of the API's field path; the weekdays follow the language switch."""
    from playwright.async_api import expect

    await inject(board, alert_dict("trash_full:TB-form", A, "垃圾桶满溢", "warning", time.time(), "trash_full"))
    page, errors = await watched_page(browser)
    await login(page, board, "leader_a")
    await page.click("#silence-new")
    option = page.locator('#silence-rules option[value="trash_full"]')
    await expect(option).to_have_attribute("label", "垃圾桶满溢")
    await page.check("#silence-repeat")
    await expect(page.get_by_test_id("silence-preview")).to_have_text("请选择每周哪几天")
    await page.locator('#silence-days input[value="2"]').check()
    await expect(page.get_by_test_id("silence-preview")).to_contain_text("台设备")
    await page.click("#lang")
    await expect(page.locator("#silence-days label").first).to_contain_text("Mon")
    await expect(page.locator('#silence-days input[value="2"]')).to_be_checked()
    await page.click("#silence-cancel-form")
    assert errors == []
