"""The board's first render on a phone (390×844) in headless Chromium with 1,000 open tickets in scope.

Measured with the Performance API in the page, from the navigation's start (the session is already signed in):
the first rows drawn (`cwatch:first-list`: board.js draws a first page of 100, the list's top, as soon as it
comes), the whole list drawn (`cwatch:full-list`: every page, the summary and the silences in), how much of
that was drawing (from `cwatch:full-data`), and the first contentful paint.
Three boards, each loaded `--runs` times in new pages:

- baseline: the same board with no ticket in scope (the page, its scripts and the empty calls), same run;
- rows: 1,000 tickets of a street account, at most 3 per rule and micro-grid, so each is a row of its own
  (the most the list draws; 4 or more of a kind collapse into one row);
- storm: 1,000 tickets of one kind in one micro-grid (a gateway down), as a worker sees them: one group row.

    python -m bench.board [--tickets 1000] [--runs 7] [--quick]"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from alerts.accounts import AccountStore
from alerts.api import AlertsApi, mount
from alerts.board import STATIC_DIR
from alerts.service import TicketService
from alerts.stream import ChangeHub
from alerts.tables import create_tables
from bench.latency.stats import percentile, table
from core.clock import SystemClock
from core.db import make_engine
from cwatch.http import build_http_app
from devices.model import DeviceClass, Role
from devices.registry import Registry
from devices.sample import sample_street
from rules.alert import Alert, AlertAction, Severity

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
PHONE = {"width": 390, "height": 844}
PASSWORD = "bench-board-password"
RULES = [
    ("smoke_alarm", Severity.CRITICAL, "烟感报警"),
    ("gas_leak", Severity.CRITICAL, "燃气泄漏"),
    ("elderly_no_water", Severity.MAJOR, "独居老人长时间未用水"),
    ("thrown_object", Severity.MAJOR, "高空抛物"),
    ("door_held_open", Severity.MAJOR, "单元门长时间未关"),
    ("fire_lane_blocked", Severity.MINOR, "消防通道占用"),
    ("ebike_charger_danger", Severity.MINOR, "充电桩过温"),
    ("trash_full", Severity.WARNING, "垃圾桶满溢"),
    ("low_battery", Severity.WARNING, "电量低"),
    ("water_leak", Severity.WARNING, "漏水"),
    ("device_offline", Severity.INFO, "设备离线"),
]


def rows_alerts(reg: Registry, n: int, now: float, skip: str) -> list[Alert]:
    """`n` alerts over the street's micro-grids but `skip`, at most 3 per rule and micro-grid, on real devices."""
    out: list[Alert] = []
    mgs = [m for m in reg.microgrids if m != skip]
    for k in range(3):
        for rule, sev, what in RULES:
            for mg in mgs:
                devices = reg.devices_under(mg)
                d = devices[(k * 7 + len(out)) % len(devices)]
                b = reg.buildings[d.building_id]
                out.append(alert(f"{rule}:{d.id}:{k}", rule, sev, f"{what}：{b.name} {d.label}", mg, now - len(out), d))
                if len(out) == n:
                    return out
    raise ValueError(f"at most {len(out)} tickets of 3 per rule and micro-grid on this street")


def storm_alerts(reg: Registry, n: int, now: float, mg: str) -> list[Alert]:
    meters = [d for d in reg.devices_under(mg) if d.device_class == DeviceClass.WATER_METER] or reg.devices_under(mg)
    return [
        alert(
            f"device_offline:{i}",
            "device_offline",
            Severity.INFO,
            f"设备离线：{meters[i % len(meters)].id}",
            mg,
            now - i,
            meters[i % len(meters)],
        )
        for i in range(n)
    ]


def alert(key: str, rule: str, sev: Severity, title: str, mg: str, ts: float, d: Any) -> Alert:
    return Alert(
        action=AlertAction.RAISE,
        rule_id=rule,
        dedup_key=key,
        severity=sev,
        ts=ts,
        microgrid_id=mg,
        title=title,
        device_id=d.id,
        building_id=d.building_id,
        household_id=d.household_id,
    )


def build_app(db: Path, reg: Registry, alerts: list[Alert], logins: list[tuple[str, Role, str]]) -> FastAPI:
    """The service's HTTP app (API and board) on SQLite, with `alerts` applied and the `logins` created."""
    hub = ChangeHub()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        engine = make_engine(f"sqlite+aiosqlite:///{db}")
        await create_tables(engine)
        service = TicketService(engine, lambda: reg, SystemClock(), hub)
        accounts = AccountStore(engine, SystemClock())
        for username, role, scope in logins:
            await accounts.create_account(username, PASSWORD, role, scope, username, None)
        for i in range(0, len(alerts), 200):
            await service.apply(alerts[i : i + 200])
        mount(app, AlertsApi(service, accounts, lambda: reg, hub))
        yield
        await engine.dispose()

    async def ready() -> dict[str, bool]:
        return {"store": True}

    app = build_http_app(readiness=ready, metrics=CollectorRegistry(), board_dir=STATIC_DIR)
    app.router.lifespan_context = lifespan
    return app


@contextmanager
def serve(app: FastAPI, port: int) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the board's server did not start")
        time.sleep(0.05)  # the server's readiness flag, polled with a deadline
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


FIGURES_JS = """() => {
  const at = (name) => { const m = performance.getEntriesByName('cwatch:' + name)[0]; return m ? m.startTime : null; };
  const full = performance.getEntriesByName('cwatch:full-list')[0];
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  return { first: at('first-list'), full: at('full-list'), draw: at('full-list') - at('full-data'),
    tickets: full.detail.tickets, fcp: fcp ? fcp.startTime : null,
    rows: document.querySelectorAll('#tickets > li').length };
}"""


async def measure(url: str, username: str, runs: int) -> list[dict[str, Any]]:
    from playwright.async_api import async_playwright

    out = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        r = await context.request.post(f"{url}/api/v1/auth/login", data={"username": username, "password": PASSWORD})
        assert r.ok, await r.text()
        for _ in range(runs + 1):  # the first load warms the server (and Chromium's start-up); not counted
            page = await context.new_page()
            await page.goto(url + "/")
            await page.wait_for_function("() => performance.getEntriesByName('cwatch:full-list').length > 0")
            out.append(await page.evaluate(FIGURES_JS))
            await page.close()
        await browser.close()
    return out[1:]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.board", description=__doc__.split("\n\n")[0])
    ap.add_argument("--tickets", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=7, help="page loads measured per board")
    ap.add_argument("--quick", action="store_true", help="100 tickets, 2 runs: checks that it runs")
    a = ap.parse_args(argv)
    if a.quick:
        a.tickets, a.runs = 100, 2
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is not installed")
        return 2
    reg = sample_street(start=None)
    quiet, storm_mg = "mg-yg-1-1", "mg-yg-1-2"
    now = time.time()
    street = next(iter(reg.streets))
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # rows and the baseline on one server: the baseline's worker has no ticket in scope
        alerts = rows_alerts(reg, a.tickets, now, skip=quiet)
        logins = [("street", Role.STREET_DUTY, street), ("idle", Role.GRID_WORKER, quiet)]
        app = build_app(Path(tmp) / "rows.db", reg, alerts, logins)
        with serve(app, free_port()) as url:
            results["baseline: no tickets"] = asyncio.run(measure(url, "idle", a.runs))
            results[f"rows: {a.tickets} tickets, {a.tickets} rows"] = asyncio.run(measure(url, "street", a.runs))
        app = build_app(
            Path(tmp) / "storm.db",
            reg,
            storm_alerts(reg, a.tickets, now, storm_mg),
            [("storm", Role.GRID_WORKER, storm_mg)],
        )
        with serve(app, free_port()) as url:
            results[f"storm: {a.tickets} tickets, 1 group row"] = asyncio.run(measure(url, "storm", a.runs))
    header = [
        "phone board 390×844",
        "tickets",
        "rows",
        "first rows p50 ms",
        "max ms",
        "whole list p50 ms",
        "max ms",
        "drawing it p50 ms",
        "FCP p50 ms",
    ]
    rows = []
    base = percentile([r["full"] for r in results["baseline: no tickets"]], 50)
    for name, rs in results.items():
        firsts, fulls = [r["first"] for r in rs], [r["full"] for r in rs]
        rows.append(
            [
                name,
                str(rs[0]["tickets"]),
                str(rs[0]["rows"]),
                f"{percentile(firsts, 50):.0f}",
                f"{max(firsts):.0f}",
                f"{percentile(fulls, 50):.0f}",
                f"{max(fulls):.0f}",
                f"{percentile([r['draw'] for r in rs], 50):.0f}",
                f"{percentile([r['fcp'] for r in rs if r['fcp'] is not None], 50):.0f}",
            ]
        )
    print(table(header, rows))
    for name, rs in results.items():
        if not name.startswith("baseline"):
            first, full = percentile([r["first"] for r in rs], 50), percentile([r["full"] for r in rs], 50)
            print(f"{name}: first rows {first / base:.1f}x, whole list {full / base:.1f}x the baseline's")
    print(f"target: first render <= 1000 ms with {a.tickets} open tickets ({a.runs} loads each, Chromium headless)")
    return 0
