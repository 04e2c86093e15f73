"""'Away confirmed' through the API: bounded (no more 9999-12-31 from any worker in scope), with who set it and
why stored, shown, audited, and passed to the rule engine; ended early by someone in scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from alerts.accounts import AccountStore
from alerts.api import AlertsApi
from alerts.audit import AuditLog
from alerts.service import TicketService
from alerts.tables import create_tables
from core.clock import ManualClock
from core.db import make_engine
from cwatch.api import OpsApi
from cwatch.http import build_http_app
from devices.model import Role
from devices.registry import Registry
from devices.sample import sample_street

PASSWORD = "correct-horse-42"
NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


@dataclass
class Answers:
    given: list[tuple[str, float | None]] = field(default_factory=list)

    def answer(self, household_id: str, until: float | None) -> None:
        self.given.append((household_id, until))


@dataclass
class Env:
    client: httpx.AsyncClient
    reg: Registry
    answers: Answers
    audit: AuditLog
    mine: dict[str, str]
    theirs: dict[str, str]
    household: str
    current: list[Registry]  # the registry the households' routes see: [0] replaced by a test


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'away.db'}")
    await create_tables(engine)
    reg = sample_street(3)
    clock = ManualClock(NOW.timestamp())
    accounts = AccountStore(engine, clock)
    mg, other = list(reg.microgrids)[:2]
    await accounts.create_account("worker", PASSWORD, Role.GRID_WORKER, mg, "网格员")
    await accounts.create_account("stranger", PASSWORD, Role.GRID_WORKER, other, "别的网格员")
    answers = Answers()
    current = [reg]

    async def ready() -> dict[str, bool]:
        return {}

    app = build_http_app(
        readiness=ready,
        metrics=CollectorRegistry(),
        alerts_api=AlertsApi(TicketService(engine, lambda: reg, clock), accounts, lambda: reg),
        ops_api=OpsApi(engine, lambda: current[0], answers, away_max_days=30, clock=clock),
    )
    transport = httpx.ASGITransport(app=app, client=("198.51.100.4", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        tokens = {}
        for user in ("worker", "stranger"):
            r = await client.post("/api/v1/auth/login", json={"username": user, "password": PASSWORD})
            tokens[user] = {"Authorization": f"Bearer {r.json()['token']}"}
        household = reg.households_under(mg)[0].id
        yield Env(client, reg, answers, AuditLog(engine), tokens["worker"], tokens["stranger"], household, current)
    await engine.dispose()


async def test_away_is_bounded_and_needs_a_reason(env: Env) -> None:
    url = f"/api/v1/households/{env.household}/away"
    for body in (
        {"until": "9999-12-31T00:00:00+08:00", "reason": "出国"},  # for good: the care rules would never speak again
        {"until": (NOW + timedelta(days=31)).isoformat(), "reason": "出国"},
        {"until": (NOW - timedelta(hours=1)).isoformat(), "reason": "已过"},
        {"until": (NOW + timedelta(days=3)).isoformat()},
        {"until": (NOW + timedelta(days=3)).isoformat(), "reason": "  "},
        {"until": "2026-12-09T08:00", "reason": "no offset"},
    ):
        r = await env.client.post(url, json=body, headers=env.mine)
        assert r.status_code == 422, (body, r.text)
    # a valid away for another micro-grid's household: it does not exist for the caller
    body = {"until": (NOW + timedelta(days=3)).isoformat(), "reason": "出行"}
    assert (await env.client.post(url, json=body, headers=env.theirs)).status_code == 404
    assert env.answers.given == []
    assert await env.audit.list(action="household.") == []


async def test_away_is_stored_shown_audited_and_ended(env: Env) -> None:
    url = f"/api/v1/households/{env.household}/away"
    until = NOW + timedelta(days=10)
    r = await env.client.post(url, json={"until": until.isoformat(), "reason": "住院 hospital"}, headers=env.mine)
    assert r.status_code == 202, r.text
    assert (r.json()["set_by"], r.json()["until"], r.json()["reason"]) == ("worker", until.timestamp(), "住院 hospital")
    assert env.answers.given == [(env.household, until.timestamp())]
    shown = (await env.client.get(url, headers=env.mine)).json()
    assert shown["away"]["reason"] == "住院 hospital"
    assert shown["away"]["set_at"] == NOW.timestamp()
    # outside the caller's scope the household does not exist, for reading and for writing
    assert (await env.client.get(url, headers=env.theirs)).status_code == 404
    assert (await env.client.delete(url, headers=env.theirs)).status_code == 404
    assert (await env.client.delete(url, headers=env.mine)).status_code == 204
    assert env.answers.given[-1] == (env.household, None)
    assert (await env.client.get(url, headers=env.mine)).json()["away"] is None
    entries = await env.audit.list(action="household.")
    assert [(e.action, e.actor, e.source, e.target) for e in entries] == [
        ("household.away_end", "worker", "198.51.100.4", env.household),
        ("household.away", "worker", "198.51.100.4", env.household),
    ]
    assert entries[1].details == {"until": until.timestamp(), "reason": "住院 hospital"}


async def test_away_refusals_are_in_the_callers_language(env: Env) -> None:
    url = f"/api/v1/households/{env.household}/away"
    zh = {**env.mine, "Accept-Language": "zh-CN"}
    in3 = (NOW + timedelta(days=3)).isoformat()
    refusals = [
        ("until: 须带时区偏移，如 2026-12-09T08:00:00+08:00", {"until": "2026-12-09T08:00", "reason": "出行"}),
        ("until: 应为有效的日期时间，如 2026-12-09T08:00:00+08:00", {"until": "下周一", "reason": "出行"}),
        ("外出最长 30 天；到期后仍外出请再次登记", {"until": (NOW + timedelta(days=31)).isoformat(), "reason": "出行"}),
        ("外出必须在将来结束", {"until": (NOW - timedelta(days=1)).isoformat(), "reason": "出行"}),
        ("请说明住户外出的原因（出行、住院等）", {"until": in3, "reason": " "}),
        ("请说明住户外出的原因（出行、住院等）", {"until": in3, "reason": ""}),
    ]
    for message, body in refusals:
        r = await env.client.post(url, json=body, headers=zh)
        assert (r.status_code, r.json()["error"]["message"]) == (422, message), body
    r = await env.client.post(url, content=b"{until", headers={**zh, "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"]["fields"] == [{"field": "body", "message": "不是有效的 JSON"}]
    r = await env.client.post(url, json={"until": "2026-12-09T08:00", "reason": "x"}, headers=env.mine)
    assert r.json()["error"]["message"] == "until: Input should have timezone info"
    assert env.answers.given == []


async def test_ending_an_away_that_is_not_recorded_is_refused_and_tells_the_rules_nothing(env: Env) -> None:
    # the rules take "back early" as a visit: it would clear an open no-water alert and restart the absence clock
    url = f"/api/v1/households/{env.household}/away"
    r = await env.client.delete(url, headers={**env.mine, "Accept-Language": "zh-CN"})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "not_away")
    assert r.json()["error"]["message"] == f"住户“{env.household}”未登记外出，无需结束"
    body = {"until": (NOW + timedelta(days=2)).isoformat(), "reason": "出行"}
    assert (await env.client.post(url, json=body, headers=env.mine)).status_code == 202
    assert (await env.client.delete(url, headers=env.mine)).status_code == 204
    assert (await env.client.delete(url, headers=env.mine)).status_code == 409  # ended once
    assert [h for h, until in env.answers.given if until is None] == [env.household]
    assert [e.action for e in await env.audit.list(action="household.")] == ["household.away_end", "household.away"]


async def test_an_away_the_registry_holds_is_shown_beside_the_recorded_one(env: Env) -> None:
    # households.csv's away_until (an operator's import) silences the absence rules as well: whoever reads the
    # household's away must see it, or the board would say the household is watched while it is not
    url = f"/api/v1/households/{env.household}/away"
    assert (await env.client.get(url, headers=env.mine)).json() == {
        "household_id": env.household,
        "away": None,
        "registry_until": None,
        "registry_reason": None,
        "registry_ended": None,
    }
    h = env.reg.households[env.household]
    until = NOW + timedelta(days=20)  # an import holds it at most care.away_max_days ahead, with a reason
    care = replace(h.care, away_until=until, away_reason="探亲")
    env.current[0] = env.reg.with_changes(households=[replace(h, care=care)])
    shown = (await env.client.get(url, headers=env.mine)).json()
    assert (shown["away"], shown["registry_until"], shown["registry_reason"]) == (None, until.timestamp(), "探亲")
    past = NOW - timedelta(days=1)
    env.current[0] = env.reg.with_changes(households=[replace(h, care=replace(care, away_until=past))])
    shown = (await env.client.get(url, headers=env.mine)).json()
    assert (shown["registry_until"], shown["registry_reason"]) == (None, None)


async def test_the_registrys_away_ended_by_water_use_is_shown_ended_with_its_reading(env: Env) -> None:
    """With `away_ends_on_use`, water use ends the registry's away in the rules: `GET .../away` says so (when,
    the meter and its reading) beside the registry's date, which stays as imported; an import with another
    date is an away in force again. Who may read it is unchanged."""
    from alerts.away import HouseholdAways, UseSeen

    url = f"/api/v1/households/{env.household}/away"
    h = env.reg.households[env.household]
    until = NOW + timedelta(days=20)
    care = replace(h.care, away_until=until, away_reason="探亲")
    env.current[0] = env.reg.with_changes(households=[replace(h, care=care)])
    [meter] = [d for d in env.reg.devices.values() if d.household_id == env.household and d.label == "水表"]
    used = NOW.timestamp() - 3600
    aways = HouseholdAways(env.audit.engine)
    assert await aways.registry_ended_by_use(env.household, until.timestamp(), UseSeen(used, meter.id, used + 900), 1.0)
    shown = (await env.client.get(url, headers=env.mine)).json()
    assert (shown["away"], shown["registry_until"], shown["registry_reason"]) == (None, until.timestamp(), "探亲")
    assert shown["registry_ended"] == {
        "used_at": used,
        "read_at": used + 900,
        "device_id": meter.id,
        "device_label": "水表",
        "ended_at": 1.0,
    }
    assert (await env.client.get(url, headers=env.theirs)).status_code == 404  # another grid's household
    later = until + timedelta(days=1)  # re-imported with another date: a new away, in force
    env.current[0] = env.reg.with_changes(households=[replace(h, care=replace(care, away_until=later))])
    shown = (await env.client.get(url, headers=env.mine)).json()
    assert (shown["registry_until"], shown["registry_ended"]) == (later.timestamp(), None)


async def test_the_meter_that_ended_the_registrys_away_is_named_only_while_it_is_the_households(env: Env) -> None:
    """The end names the meter by id (what the reading was); its registry label only while the meter is still
    this household's: moved to another grid's household, its label describes that household, not this one."""
    from alerts.away import HouseholdAways, UseSeen

    url = f"/api/v1/households/{env.household}/away"
    h = env.reg.households[env.household]
    until = NOW + timedelta(days=20)
    held = replace(h, care=replace(h.care, away_until=until, away_reason="探亲"))
    [meter] = [d for d in env.reg.devices.values() if d.household_id == env.household and d.label == "水表"]
    used = NOW.timestamp() - 3600
    await HouseholdAways(env.audit.engine).registry_ended_by_use(
        env.household, until.timestamp(), UseSeen(used, meter.id, used + 900), 1.0
    )
    mine = env.reg.microgrid_of(h.id)
    theirs = next(x for x in env.reg.households.values() if env.reg.microgrid_of(x.id) != mine)
    moved = replace(meter, household_id=theirs.id, building_id=theirs.building_id, label="别家 2-301 厨房水表")
    env.current[0] = env.reg.with_changes(households=[held], devices=[moved])
    shown = (await env.client.get(url, headers=env.mine)).json()["registry_ended"]
    assert (shown["device_id"], shown["device_label"]) == (meter.id, None)


async def test_a_registry_replaced_while_the_away_is_read_answers_from_the_registry_checked(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry may be replaced (a reload) while the store is read: the answer comes from the registry the
    household was found in, not a 500 for a household the new one no longer holds."""
    from alerts.away import HouseholdAways
    from tests.devices.factory import tiny

    read = HouseholdAways.get

    async def reloaded_meanwhile(self: HouseholdAways, household_id: str, now: float) -> object:
        env.current[0] = tiny()  # a registry without the household
        return await read(self, household_id, now)

    monkeypatch.setattr(HouseholdAways, "get", reloaded_meanwhile)
    r = await env.client.get(f"/api/v1/households/{env.household}/away", headers=env.mine)
    assert r.status_code == 200, r.text
    assert r.json()["household_id"] == env.household
