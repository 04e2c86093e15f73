"""Render the board's pictures in docs/ from the sample street with a realistic set of tickets and readings: the
duty desk with a ticket's evidence chart (board-desktop.png), the site plan drilled into a building
(site-plan.png), a worker's phone (board-phone.png, board-phone-detail.png) and the street's wall
(board-wall.png); the duty desk in English too (board-desktop-en.png).

Run: `.venv/bin/python -m tests.alerts.board_screenshot docs` (needs /usr/bin/chromium)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import async_playwright

from core.clock import SystemClock
from devices.model import DeviceClass, Role
from devices.registry import Registry
from devices.sample import sample_street

from .board_app import Login, alert_dict, build_app, serve
from .browser import ARGS, CHROMIUM
from .evidence_data import smoke_rise, water_history

PW = "screenshot-password"


def realistic_alerts(reg: Registry, now: float) -> list[dict[str, Any]]:
    """Alerts on real devices of the sample street, with titles as the rules would write them."""

    def on(mg: str, cls: DeviceClass, label: str = "", household: bool = False) -> dict[str, Any]:
        for d in reg.devices_under(mg):
            if d.device_class == cls and label in d.label and (d.household_id is not None) == household:
                b = reg.buildings[d.building_id]
                unit = reg.households[d.household_id].unit if d.household_id else ""
                return {
                    "device_id": d.id,
                    "building_id": d.building_id,
                    "household_id": d.household_id,
                    "community_id": reg.community_of(d.id),
                    "where": f"{b.name} {unit or d.label}".strip(),
                }
        raise LookupError((mg, cls, label))

    def make(rule: str, mg: str, what: str, sev: str, ago: float, place: dict[str, Any], **details: Any) -> Any:
        where = place.pop("where")
        return alert_dict(
            f"{rule}:{place['device_id']}", mg, f"{what}：{where}", sev, now - ago, rule, details=details, **place
        )

    a, b, c, d, e = "mg-yg-1-1", "mg-yg-1-2", "mg-yg-1-3", "mg-yg-2-1", "mg-yg-2-2"
    return [
        make(
            "smoke_alarm",
            a,
            "烟感报警",
            "critical",
            140,
            on(a, DeviceClass.SMOKE_DETECTOR, household=True),
            smoke_obscuration_pct=12.5,
        ),
        make(
            "gas_leak", b, "燃气泄漏", "critical", 900, on(b, DeviceClass.GAS_DETECTOR, household=True), gas_lel_pct=31
        ),
        make(
            "thrown_object",
            a,
            "高空抛物",
            "major",
            1500,
            on(a, DeviceClass.AI_CAMERA, "高空抛物"),
            confidence=0.93,
            floor_estimate=9,
        ),
        make("door_held_open", a, "单元门长时间未关", "major", 420, on(a, DeviceClass.ACCESS_CONTROL)),
        make(
            "elderly_no_water",
            c,
            "独居老人 12 小时未用水",
            "major",
            3000,
            on(c, DeviceClass.WATER_METER, household=True),
            m3_in_12h=0.0,
        ),
        make("fire_lane_blocked", d, "消防通道占用", "minor", 5400, on(d, DeviceClass.AI_CAMERA)),
        make("ebike_charger_danger", d, "充电桩过温", "minor", 800, on(d, DeviceClass.EBIKE_CHARGER), temp_c=78),
        make("trash_full", e, "垃圾桶满溢", "warning", 9000, on(e, DeviceClass.TRASH_BIN), fill_pct=96),
        make("low_battery", b, "烟感电量低", "warning", 20000, on(b, DeviceClass.SMOKE_DETECTOR), battery_pct=9),
        make("device_offline", c, "水表离线", "info", 30000, on(c, DeviceClass.WATER_METER, household=True)),
        # other communities' (the street's wall shows them)
        make(
            "gas_leak",
            "mg-hp-1-2",
            "燃气泄漏",
            "critical",
            260,
            on("mg-hp-1-2", DeviceClass.GAS_DETECTOR, household=True),
        ),
        make("manhole_open", "mg-cz-1-1", "井盖移位", "major", 2400, on("mg-cz-1-1", DeviceClass.MANHOLE_COVER)),
        make("trash_full", "mg-hp-2-1", "垃圾桶满溢", "warning", 4000, on("mg-hp-2-1", DeviceClass.TRASH_BIN)),
    ]


class ShiftedClock(SystemClock):
    """Wall time moved by `offset`: tickets are created "earlier" than the people act on them."""

    offset = 0.0

    def now(self) -> float:
        return super().now() + self.offset


async def sign_in(page: Any, url: str, path: str, username: str) -> None:
    await page.goto(url + path)
    await page.fill("#username", username)
    await page.fill("#password", PW)
    await page.click("#login-btn")


async def shoot(url: str, out: Path, reg: Registry, clock: ShiftedClock) -> list[Path]:
    """Every view into the folder `out`; returns the files written."""
    now = time.time()
    alerts = realistic_alerts(reg, now)
    smoke, water = reg.devices[alerts[0]["device_id"]], reg.devices[alerts[4]["device_id"]]
    async with httpx.AsyncClient(base_url=url) as c:
        await c.post("/test/readings", json=water_history(reg, water, now, quiet_h=13) + smoke_rise(reg, smoke, now))
        clock.offset = -400
        ids = (await c.post("/test/alerts", json=alerts)).json()
        await c.post("/test/alerts", json=[alerts[2]])  # the camera fired again
        clock.offset = 0
        token = (await c.post("/api/v1/auth/login", json={"username": "worker", "password": PW})).json()["token"]
        h = {"Authorization": f"Bearer {token}"}
        await c.post(f"/api/v1/tickets/{ids[2]}/ack", headers=h)
        await c.post(f"/api/v1/tickets/{ids[3]}/start", headers=h, json={"note": "已到场，门禁闭门器故障"})
        await c.post(f"/api/v1/tickets/{ids[3]}/comment", headers=h, json={"note": "已报物业维修，临时有人值守"})
        await c.post(f"/api/v1/tickets/{ids[0]}/ack", headers=h, json={"note": "已电话联系住户，正在上楼"})
    written = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)

        async def new_page(viewport: dict[str, int], **options: Any) -> Any:
            context = await browser.new_context(viewport=viewport, device_scale_factor=1, **options)
            return await context.new_page()

        # the duty desk: a lone elderly resident's no-water ticket with its water use against the usual
        desk = await new_page({"width": 1440, "height": 900})
        await sign_in(desk, url, f"/tickets/{ids[4]}", "duty_yg")
        await desk.wait_for_selector("#evidence svg.chart")
        await desk.wait_for_timeout(500)  # let the flash animation finish for a clean picture
        written.append(out / "board-desktop.png")
        await desk.screenshot(path=str(written[-1]))
        await desk.click("#lang")  # the same desk in English, then back (the choice stays in this browser)
        await desk.wait_for_timeout(300)
        written.append(out / "board-desktop-en.png")
        await desk.screenshot(path=str(written[-1]))
        await desk.click("#lang")

        # the site plan, drilled into the building of the smoke alarm
        await desk.click("#detail-close")
        await desk.click("#plan-toggle")
        await desk.locator(f'.building[data-id="{smoke.building_id}"]').click()
        await desk.wait_for_selector('[data-testid="plan-drill-title"]')
        written.append(out / "site-plan.png")
        await desk.locator(".topbar").evaluate("e => e.style.setProperty('position', 'static')")  # not over the plan
        await desk.locator("#plan").screenshot(path=str(written[-1]))

        # a worker's phone: the list, then the smoke alarm with its detector's readings and the action bar
        phone = await new_page({"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        await sign_in(phone, url, "/", "worker")
        await phone.wait_for_selector(".ticket")
        await phone.wait_for_timeout(500)
        written.append(out / "board-phone.png")
        await phone.screenshot(path=str(written[-1]))
        await phone.click(f'.ticket[data-id="{ids[0]}"]')
        await phone.wait_for_selector("#evidence svg.chart")
        await phone.locator("#evidence").scroll_into_view_if_needed()
        written.append(out / "board-phone-detail.png")
        await phone.screenshot(path=str(written[-1]))

        # the street's wall (still: reduced motion)
        wall = await new_page({"width": 1920, "height": 1080}, reduced_motion="reduce")
        await sign_in(wall, url, "/wall", "street")
        await wall.wait_for_selector('[data-testid="wall-ticket"]')
        await wall.wait_for_timeout(500)
        written.append(out / "board-wall.png")
        await wall.screenshot(path=str(written[-1]))
        await browser.close()
    return written


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    reg = sample_street()
    worker = reg.people_at("mg-yg-1-1", Role.GRID_WORKER)[0]
    duty = reg.people_at("c-yg", Role.COMMUNITY_DUTY)
    logins = [
        Login("duty_yg", PW, Role.COMMUNITY_DUTY, "c-yg", duty[0].name if duty else "社区值班", None),
        Login("worker", PW, Role.GRID_WORKER, "mg-yg-1-1", worker.name, worker.id),
        Login("street", PW, Role.STREET_DUTY, next(iter(reg.streets)), "街道值班", None),
    ]
    clock = ShiftedClock()
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp) / "b.db", reg, logins, clock, telemetry_path=Path(tmp) / "telemetry.db")
        with serve(app) as url:
            for path in asyncio.run(shoot(url, out, reg, clock)):
                print(path)


if __name__ == "__main__":
    main()
