"""The monthly review: periods, on-time rates and MTTA/MTTR from real escalations, scope, CSV and XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import httpx
import msgspec
import openpyxl
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import AccountStore
from alerts.api import AlertsApi, install_error_handlers, mount
from alerts.reports import Bucket, ReportError, parse_period
from alerts.service import TicketService
from alerts.stream import ChangeHub
from core.clock import ManualClock
from devices.model import Role
from rules.alert import Severity

from .fakes import OPERATOR, WORKER_M1, FakeHierarchy, alert

TZ = ZoneInfo("Asia/Shanghai")
PASSWORD = "correct-horse-42"
NOV_10 = datetime(2026, 11, 10, 9, 0, tzinfo=TZ).timestamp()


# --- periods ------------------------------------------------------------------------------------------------


def test_a_month_is_its_calendar_days_in_the_street_time_zone() -> None:
    p = parse_period("2026-02", None, None, TZ, date(2026, 12, 6))
    assert (p.first, p.last, p.bucket) == (date(2026, 2, 1), date(2026, 2, 28), Bucket.DAY)
    assert p.start == datetime(2026, 2, 1, tzinfo=TZ).timestamp()
    assert p.end == datetime(2026, 3, 1, tzinfo=TZ).timestamp()
    assert len(p.edges) == len(p.labels) == 28
    assert p.labels[-1] == "2026-02-28"


def test_a_year_is_told_by_month_and_the_default_is_this_month_so_far() -> None:
    p = parse_period(None, "2025-12-01", "2026-11-30", TZ, date(2026, 12, 6))
    assert p.bucket is Bucket.MONTH
    assert p.labels[0] == "2025-12"
    assert p.labels[-1] == "2026-11"
    assert len(p.edges) == 12
    d = parse_period(None, None, None, TZ, date(2026, 12, 6))
    assert (d.first, d.last) == (date(2026, 12, 1), date(2026, 12, 6))


@pytest.mark.parametrize(
    ("month", "since", "until", "words"),
    [
        ("2026-13", None, None, "YYYY-MM"),
        ("2026-1", None, None, "YYYY-MM"),
        ("2026-11\n", None, None, "YYYY-MM"),  # a line break after it is not part of a month
        (None, "2026-11-01\n", None, "YYYY-MM-DD"),
        ("November", None, None, "YYYY-MM"),
        ("2026-11", "2026-11-01", None, "either"),
        (None, "2026-11-31", None, "YYYY-MM-DD"),
        (None, "2026-11-10", "2026-11-01", "before"),
        (None, "2024-01-01", "2026-01-01", "366"),
    ],
)
def test_a_malformed_period_is_refused_with_the_reason_in_both_languages(
    month: str | None, since: str | None, until: str | None, words: str
) -> None:
    with pytest.raises(ReportError) as caught:
        parse_period(month, since, until, TZ, date(2026, 12, 6))
    assert words in caught.value.message
    assert caught.value.message_for("zh-CN") != caught.value.message
    assert caught.value.status == 422


# --- through the API ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    id: str
    name: str


class NamedHierarchy(FakeHierarchy):
    """The fake grid with the registry's collections, so areas have names."""

    def __init__(self) -> None:
        super().__init__()
        self.streets = {"S1": Node("S1", "城南街道")}
        self.communities = {"C1": Node("C1", "桂花社区")}
        self.grids = {"G1": Node("G1", "第一网格"), "G2": Node("G2", "第二网格")}
        # by code point 第三 sorts before 第二: the rows must follow the registry, not the names
        self.microgrids = {m: Node(m, f"第{n}微网格") for m, n in (("M1", "一"), ("M2", "二"), ("M3", "三"))}


@dataclass
class Env:
    client: httpx.AsyncClient
    service: TicketService
    clock: ManualClock

    async def login(self, username: str) -> dict[str, str]:
        r = await self.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture
async def env(engine: AsyncEngine) -> AsyncIterator[Env]:
    clock = ManualClock(NOV_10)
    hierarchy = NamedHierarchy()
    hub = ChangeHub()
    service = TicketService(engine, lambda: hierarchy, clock, hub)
    accounts = AccountStore(engine, clock, session_ttl=10 * 86_400)
    for username, role, scope in [
        ("w1", Role.GRID_WORKER, "M1"),
        ("l3", Role.MICROGRID_LEADER, "M3"),
        ("c1", Role.COMMUNITY_DUTY, "C1"),
        ("op", Role.OPERATOR, "S1"),
    ]:
        await accounts.create_account(username, PASSWORD, role, scope, username.upper(), None)
    app = FastAPI()
    install_error_handlers(app)
    mount(app, AlertsApi(service, accounts, lambda: hierarchy, hub, tz=TZ))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield Env(client, service, clock)


async def _november(env: Env) -> None:
    """Four major tickets (15 min to acknowledge, 4 h to resolve): in M1 one acknowledged and resolved in time,
    one acknowledged only after an escalation; in M3 one resolved late and rated, one left open."""
    on_time, late_ack = await env.service.apply(
        [alert("smoke:a", microgrid="M1", ts=NOV_10), alert("door:b", microgrid="M1", rule="door_forced", ts=NOV_10)]
    )
    late_resolve, left_open = await env.service.apply(
        [alert("smoke:c", microgrid="M3", ts=NOV_10), alert("smoke:d", microgrid="M3", ts=NOV_10)]
    )
    env.clock.advance(300)
    await env.service.acknowledge(on_time.id, WORKER_M1)
    await env.service.acknowledge(late_resolve.id, OPERATOR)
    env.clock.advance(1200)  # 25 min: door:b and smoke:d missed their acknowledgement
    assert {t.id for t in await env.service.escalate_due()} == {late_ack.id, left_open.id}
    await env.service.acknowledge(late_ack.id, WORKER_M1)
    await env.service.resolve(on_time.id, WORKER_M1, "kitchen smoke, checked")
    env.clock.advance(5 * 3600)  # smoke:c is past its 4 h to resolve
    await env.service.escalate_due()
    await env.service.resolve(late_resolve.id, OPERATOR, "detector replaced")
    await env.service.evaluate(late_resolve.id, OPERATOR, 4)


async def test_on_time_rates_mtta_and_mttr_come_from_the_escalations(env: Env) -> None:
    await _november(env)
    r = await env.client.get("/api/v1/reports?month=2026-11", headers=await env.login("op"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == {"id": "S1", "level": "street", "name": "城南街道"}
    assert body["period"] == {"from": "2026-11-01", "to": "2026-11-30", "bucket": "day"}
    totals = body["totals"]
    assert (totals["tickets"], totals["open"], totals["acknowledged"], totals["resolved"]) == (4, 2, 3, 2)
    assert totals["ack_on_time_rate"] == 0.5  # 2 in time, door:b late, smoke:d still unacknowledged and late
    # smoke:a in time; smoke:c resolved late; door:b and smoke:d still open past their 4 h
    assert totals["resolve_on_time_rate"] == 0.25
    assert totals["mtta_s"] == pytest.approx((300 + 300 + 1500) / 3, abs=0.1)
    assert totals["mttr_s"] == pytest.approx((1500 + 1500 + 5 * 3600) / 2, abs=0.1)
    assert (totals["rating"], totals["rated"]) == (4.0, 1)
    assert [a["name"] for a in body["by_area"]] == ["桂花社区"]  # the street's rows are its communities
    by_rule = {r["rule_id"]: r["tickets"] for r in body["by_rule"]}
    assert by_rule == {"smoke_alarm": 3, "door_forced": 1}
    day10 = next(d for d in body["trend"] if d["start"] == "2026-11-10")
    assert day10["tickets"] == 4
    assert sum(d["tickets"] for d in body["trend"]) == 4


async def test_a_community_reviews_its_grids_and_a_leader_only_their_micro_grid(env: Env) -> None:
    await _november(env)
    body = (await env.client.get("/api/v1/reports?month=2026-11", headers=await env.login("c1"))).json()
    grids = {a["name"]: (a["tickets"], a["ack_on_time_rate"]) for a in body["by_area"]}
    assert grids == {"第一网格": (2, 0.5), "第二网格": (2, 0.5)}
    leader = await env.login("l3")
    mine = (await env.client.get("/api/v1/reports?month=2026-11", headers=leader)).json()
    assert mine["scope"]["id"] == "M3"
    assert mine["totals"]["tickets"] == 2
    for scope in ("C1", "M1", "nowhere"):
        r = await env.client.get(f"/api/v1/reports?month=2026-11&scope={scope}", headers=leader)
        assert r.status_code == 422, r.text
        assert "review" in r.json()["error"]["message"]
    by_micro = await env.client.get("/api/v1/reports?month=2026-11&by=microgrid", headers=await env.login("c1"))
    # M2 listed with 0 tickets; the rows in the registry's order, as the wall and the CSV files have them
    assert [a["name"] for a in by_micro.json()["by_area"]] == ["第一微网格", "第二微网格", "第三微网格"]


async def test_a_month_without_tickets_reports_zeros_not_errors(env: Env) -> None:
    await _november(env)
    body = (await env.client.get("/api/v1/reports?month=2026-10", headers=await env.login("op"))).json()
    assert body["totals"]["tickets"] == 0
    assert body["totals"]["ack_on_time_rate"] is None
    assert len(body["trend"]) == 31


async def test_bad_periods_are_a_422_in_the_callers_language_and_unauthenticated_is_401(env: Env) -> None:
    op = await env.login("op")
    r = await env.client.get("/api/v1/reports?month=2026-13", headers={**op, "Accept-Language": "zh-CN"})
    assert r.status_code == 422
    assert "须为" in r.json()["error"]["message"]
    r = await env.client.get("/api/v1/reports?month=2026-13", headers=op)
    assert r.status_code == 422
    assert "must be" in r.json()["error"]["message"]
    r = await env.client.get("/api/v1/reports?format=pdf", headers=op)
    assert r.status_code == 422
    env.client.cookies.clear()  # the login's session cookie
    assert (await env.client.get("/api/v1/reports")).status_code == 401


async def test_csv_and_xlsx_hold_the_same_figures_as_the_json(env: Env) -> None:
    await _november(env)
    op = await env.login("op")
    data = (await env.client.get("/api/v1/reports?month=2026-11", headers=op)).json()
    r = await env.client.get("/api/v1/reports?month=2026-11&format=csv", headers={**op, "Accept-Language": "zh"})
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["部分", "编号", "名称"]
    assert "按期处置率" in rows[0]
    totals = next(row for row in rows if row[0] == "合计")
    assert totals[3] == str(data["totals"]["tickets"])
    assert float(totals[8]) == data["totals"]["resolve_on_time_rate"]
    # the sections in words, never the JSON's keys
    assert {row[0] for row in rows[1:]} == {"合计", "按区域", "按规则", "趋势"}
    r = await env.client.get("/api/v1/reports?month=2026-11&format=csv", headers={**op, "Accept-Language": "en"})
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["section", "id", "name", "tickets"]
    assert {row[0] for row in rows[1:]} == {"Totals", "By area", "By rule", "Trend"}
    r = await env.client.get("/api/v1/reports?month=2026-11&format=xlsx", headers=op)
    assert r.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["Totals", "By area", "By rule", "Trend"]
    head = [c.value for c in wb["Totals"][1]]
    values = dict(zip(head, (c.value for c in wb["Totals"][2]), strict=True))
    assert values["tickets"] == 4
    assert values["acknowledged on time"] == 0.5
    assert wb["Trend"].max_row == 1 + 30
    rules = {row[0].value: row[2].value for row in wb["By rule"].iter_rows(min_row=2)}
    assert rules == {"smoke_alarm": 3, "door_forced": 1}


async def test_info_tickets_have_no_deadlines_and_stay_out_of_the_rates(env: Env) -> None:
    await env.service.apply([alert("note:x", microgrid="M1", severity=Severity.INFO, ts=NOV_10)])
    env.clock.advance(3 * 86_400)
    await env.service.escalate_due()
    body = (await env.client.get("/api/v1/reports?month=2026-11", headers=await env.login("op"))).json()
    assert body["totals"]["tickets"] == 1
    assert body["totals"]["ack_on_time_rate"] is None
    assert body["totals"]["resolve_on_time_rate"] is None


async def test_rules_are_named_by_their_title_in_the_readers_language(env: Env) -> None:
    await env.service.apply(
        [
            msgspec.structs.replace(alert("smoke:a", ts=NOV_10), title="烟感报警 Smoke alarm"),
            msgspec.structs.replace(
                alert("door:b", rule="door_forced", ts=NOV_10), title="门被强行打开 Door forced open"
            ),
        ]
    )
    op = await env.login("op")
    zh = (await env.client.get("/api/v1/reports?month=2026-11", headers={**op, "Accept-Language": "zh"})).json()
    assert {r["rule_id"]: r["name"] for r in zh["by_rule"]} == {
        "smoke_alarm": "烟感报警",
        "door_forced": "门被强行打开",
    }
    r = await env.client.get("/api/v1/reports?month=2026-11&format=xlsx", headers={**op, "Accept-Language": "en"})
    names = {
        row[0].value: row[1].value
        for row in openpyxl.load_workbook(io.BytesIO(r.content))["By rule"].iter_rows(min_row=2)
    }
    assert names == {"smoke_alarm": "Smoke alarm", "door_forced": "Door forced open"}
    r = await env.client.get("/api/v1/reports?month=2026-11&format=csv", headers={**op, "Accept-Language": "zh"})
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert ["按规则", "door_forced", "门被强行打开"] in [row[:3] for row in rows]


async def test_a_rules_own_title_per_language_names_it_in_reports(env: Env) -> None:
    titles = {"zh-CN": "燃气泄漏（厨房）", "en": "Kitchen gas leak"}
    await env.service.apply(
        [msgspec.structs.replace(alert("gas:a", rule="gas_leak", ts=NOV_10), title="燃气 Gas", titles=titles)]
    )
    op = await env.login("op")
    for lang, name in (("zh", "燃气泄漏（厨房）"), ("en", "Kitchen gas leak")):
        r = await env.client.get("/api/v1/reports?month=2026-11", headers={**op, "Accept-Language": lang})
        assert {x["rule_id"]: x["name"] for x in r.json()["by_rule"]} == {"gas_leak": name}
