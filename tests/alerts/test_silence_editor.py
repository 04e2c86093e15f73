"""The silence editor's server side: a scope tree to pick from, a preview of what a silence covers, and an
identical overlapping silence refused (409, nothing stored)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import AccountStore
from alerts.api import AlertsApi, install_error_handlers, mount
from alerts.scope import within
from alerts.service import TicketService
from alerts.stream import ChangeHub
from core.clock import ManualClock
from devices.model import Device, DeviceClass, Role
from devices.registry import Registry
from devices.sample import sample_street
from rules.alert import Alert, AlertAction, Severity

PASSWORD = "correct-horse-42"
NOW = 1_780_000_000.0


@dataclass
class Env:
    client: httpx.AsyncClient
    service: TicketService
    reg: Registry
    mg: str
    titles: dict[str, dict[str, str]]  # the rule set's titles the API names rules by (none unless a test adds)

    async def login(self, username: str) -> dict[str, str]:
        r = await self.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture
async def env(engine: AsyncEngine) -> AsyncIterator[Env]:
    reg = sample_street(1)
    mg = next(iter(reg.microgrids))
    clock = ManualClock(NOW)
    hub = ChangeHub()
    service = TicketService(engine, lambda: reg, clock, hub)
    accounts = AccountStore(engine, clock, session_ttl=3600)
    await accounts.create_account("leader", PASSWORD, Role.MICROGRID_LEADER, mg, "组长", None)
    await accounts.create_account("worker", PASSWORD, Role.GRID_WORKER, mg, "网格员", None)
    community = reg.grids[reg.microgrids[mg].grid_id].community_id
    await accounts.create_account("duty", PASSWORD, Role.COMMUNITY_DUTY, community, "社区值班", None)
    app = FastAPI()
    install_error_handlers(app)
    rules: dict[str, frozenset[str] | None] = {
        "smoke_alarm": frozenset({"smoke_detector"}),
        "device_offline": None,
        "water_leak": frozenset({"water_meter"}),
    }
    titles: dict[str, dict[str, str]] = {}
    mount(app, AlertsApi(service, accounts, lambda: reg, hub, rules=lambda: rules, rule_titles=lambda: titles))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield Env(client, service, reg, mg, titles)


async def test_the_picker_offers_the_rules_in_force_by_name_in_the_callers_language(env: Env) -> None:
    env.titles["smoke_alarm"] = {"zh-CN": "烟感报警", "en": "Smoke alarm"}
    leader = await env.login("leader")
    for lang, smoke in (("zh-CN", "烟感报警"), ("en", "Smoke alarm")):
        tree = (await env.client.get("/api/v1/silences/scopes", headers={**leader, "Accept-Language": lang})).json()
        # every rule in force, with or without tickets; one without a title by its id
        assert tree["rules"] == [
            {"id": "device_offline", "name": "device_offline"},
            {"id": "smoke_alarm", "name": smoke},
            {"id": "water_leak", "name": "water_leak"},
        ]


async def test_the_picker_offers_the_leaders_micro_grid_and_its_buildings_by_name(env: Env) -> None:
    items = (await env.client.get("/api/v1/silences/scopes", headers=await env.login("leader"))).json()["items"]
    mine = {n["id"]: n for n in items if n["may_silence"]}
    assert env.mg in mine
    assert mine[env.mg]["name"] == env.reg.microgrids[env.mg].name
    buildings = [n for n in mine.values() if n["level"] == "building"]
    assert buildings
    assert {b["parent_id"] for b in buildings} == {env.mg}
    # the nodes above are shown for context but cannot be silenced by a leader
    above = [n for n in items if n["level"] in ("street", "community", "grid")]
    assert above
    assert not any(n["may_silence"] for n in above)
    other = next(m for m in env.reg.microgrids if m != env.mg)
    assert other not in {n["id"] for n in items}


async def test_the_preview_counts_devices_by_class_and_active_tickets_inside(env: Env) -> None:
    leader = await env.login("leader")
    meter = await meter_offline(env)
    r = await env.client.post("/api/v1/silences/preview", headers=leader, json={"scope_id": env.mg})
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["devices"] == len(env.reg.devices_under(env.mg))
    assert sum(p["by_class"].values()) == p["devices"]
    assert p["critical_excluded"] is True
    assert p["active_tickets"] == 1
    assert len(p["sample"]) == min(20, p["devices"])
    one = await env.client.post(
        "/api/v1/silences/preview",
        headers=leader,
        json={"scope_id": env.mg, "device_id": meter.id, "rule_id": "smoke_alarm"},
    )
    # a meter named with a rule that judges smoke detectors covers nothing
    assert (one.json()["devices"], one.json()["active_tickets"], one.json()["critical_excluded"]) == (0, 0, False)
    smoke = await env.client.post(
        "/api/v1/silences/preview", headers=leader, json={"scope_id": env.mg, "rule_id": "smoke_alarm"}
    )
    detectors = [d for d in env.reg.devices_under(env.mg) if d.device_class is DeviceClass.SMOKE_DETECTOR]
    assert smoke.json()["by_class"] == {"smoke_detector": len(detectors)}
    worker = await env.login("worker")
    assert (
        await env.client.post("/api/v1/silences/preview", headers=worker, json={"scope_id": env.mg})
    ).status_code == 403


async def test_an_identical_overlapping_silence_is_refused_and_nothing_is_stored(env: Env) -> None:
    leader = await env.login("leader")
    body = {"scope_id": env.mg, "rule_id": "device_offline", "duration_s": 7200, "comment": "换表"}
    first = await env.client.post("/api/v1/silences", headers=leader, json=body)
    assert first.status_code == 201
    again = await env.client.post(
        "/api/v1/silences", headers={**leader, "Accept-Language": "zh-CN"}, json={**body, "starts_at": NOW + 3600}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "duplicate_silence"
    assert str(first.json()["id"]) in again.json()["error"]["message"]
    assert "已有相同的维护静默" in again.json()["error"]["message"]
    # another rule, or a window after the first ends, is a different silence
    other_rule = await env.client.post("/api/v1/silences", headers=leader, json={**body, "rule_id": "water_leak"})
    assert other_rule.status_code == 201
    later = await env.client.post(
        "/api/v1/silences", headers=leader, json={**body, "starts_at": NOW + 7200, "duration_s": 600}
    )
    assert later.status_code == 201
    listed = (await env.client.get("/api/v1/silences", headers=leader)).json()["items"]
    assert len(listed) == 3


async def meter_offline(env: Env, titles: dict[str, str] | None = None) -> Device:
    """A device_offline ticket of a water meter in the micro-grid, titled "设备离线 Device offline" (`titles`: the
    rule's own per language); returns the meter."""
    meter = next(d for d in env.reg.devices_under(env.mg) if d.device_class is DeviceClass.WATER_METER)
    offline = Alert(
        action=AlertAction.RAISE,
        rule_id="device_offline",
        dedup_key=f"device_offline:{meter.id}",
        severity=Severity.MINOR,
        ts=NOW - 60,
        microgrid_id=env.mg,
        title="设备离线 Device offline",
        device_id=meter.id,
        titles=titles or {},
    )
    await env.service.apply([offline])
    return meter


async def test_a_silence_names_its_rule_in_the_callers_language(env: Env) -> None:
    leader = await env.login("leader")
    await meter_offline(env)
    for rule in ("device_offline", "water_leak"):
        body = {"scope_id": env.mg, "rule_id": rule, "duration_s": 3600, "comment": "换表"}
        assert (await env.client.post("/api/v1/silences", headers=leader, json=body)).status_code == 201
    for lang, name in (("zh-CN", "设备离线"), ("en", "Device offline")):
        r = await env.client.get("/api/v1/silences", headers={**leader, "Accept-Language": lang})
        names = {s["rule_id"]: s["rule_name"] for s in r.json()["items"]}
        assert names == {"device_offline": name, "water_leak": None}  # no ticket of it yet: the board shows the id


async def test_a_silence_names_its_rule_only_from_tickets_its_reader_may_see(env: Env) -> None:
    """A ticket's title is its condition's: the newest ticket of a rule in another micro-grid (here with a
    household's name in it) never names the rule for a leader who cannot see that ticket."""
    leader = await env.login("leader")
    await meter_offline(env)
    other = next(m for m in env.reg.microgrids if m != env.mg)
    elsewhere = {"zh-CN": "王家 水表离线", "en": "the Wangs' meter offline"}
    for rule in ("device_offline", "water_leak"):
        await env.service.apply(
            [
                Alert(
                    action=AlertAction.RAISE,
                    rule_id=rule,
                    dedup_key=f"{rule}:elsewhere",
                    severity=Severity.MINOR,
                    ts=NOW - 30,
                    microgrid_id=other,
                    title="王家 水表离线 the Wangs' meter offline",
                    titles=elsewhere,
                )
            ]
        )
        body = {"scope_id": env.mg, "rule_id": rule, "duration_s": 3600, "comment": "换表"}
        assert (await env.client.post("/api/v1/silences", headers=leader, json=body)).status_code == 201
    for lang, name in (("zh-CN", "设备离线"), ("en", "Device offline")):
        r = await env.client.get("/api/v1/silences", headers={**leader, "Accept-Language": lang})
        names = {s["rule_id"]: s["rule_name"] for s in r.json()["items"]}
        assert names == {"device_offline": name, "water_leak": None}


async def test_a_silence_names_its_rule_by_the_rule_sets_title_before_any_tickets(env: Env) -> None:
    """The rule in force names itself, with or without tickets; its tickets name only a rule no longer in it."""
    leader = await env.login("leader")
    await meter_offline(env, titles={"zh-CN": "水表离线", "en": "Meter offline"})
    env.titles.update(
        device_offline={"zh-CN": "设备离线", "en": "Device offline"},
        water_leak={"zh-CN": "漏水", "en": "Water leak"},
    )
    for rule in ("device_offline", "water_leak"):
        body = {"scope_id": env.mg, "rule_id": rule, "duration_s": 3600, "comment": "换表"}
        assert (await env.client.post("/api/v1/silences", headers=leader, json=body)).status_code == 201
    for lang, names in (("zh-CN", ("设备离线", "漏水")), ("en", ("Device offline", "Water leak"))):
        r = await env.client.get("/api/v1/silences", headers={**leader, "Accept-Language": lang})
        assert {s["rule_id"]: s["rule_name"] for s in r.json()["items"]} == dict(
            zip(("device_offline", "water_leak"), names, strict=True)
        )
    env.titles.pop("device_offline")  # taken out of the rule set: named as its ticket was
    r = await env.client.get("/api/v1/silences", headers={**leader, "Accept-Language": "en"})
    assert {s["rule_id"]: s["rule_name"] for s in r.json()["items"]}["device_offline"] == "Meter offline"


async def test_a_silence_names_its_rule_by_the_rules_own_title_per_language(env: Env) -> None:
    """A rule file's per-language title wins over splitting the one string ("水表离线" is no part of it)."""
    leader = await env.login("leader")
    await meter_offline(env, titles={"zh-CN": "水表离线", "en": "Meter offline"})
    body = {"scope_id": env.mg, "rule_id": "device_offline", "duration_s": 3600, "comment": "换表"}
    assert (await env.client.post("/api/v1/silences", headers=leader, json=body)).status_code == 201
    for lang, name in (("zh-CN", "水表离线"), ("en", "Meter offline")):
        r = await env.client.get("/api/v1/silences", headers={**leader, "Accept-Language": lang})
        assert [s["rule_name"] for s in r.json()["items"]] == [name]
    [t] = (await env.client.get("/api/v1/tickets", headers=leader)).json()["items"]
    assert t["titles"] == {"zh-CN": "水表离线", "en": "Meter offline"}
    assert t["title"] == "设备离线 Device offline"


async def test_a_rule_not_in_force_is_refused_before_anything_is_stored(env: Env) -> None:
    leader = await env.login("leader")
    typo = {"scope_id": env.mg, "rule_id": "smoke_alrm", "duration_s": 600, "comment": "年检"}
    for path in ("/api/v1/silences/preview", "/api/v1/silences"):
        r = await env.client.post(path, headers={**leader, "Accept-Language": "zh-CN"}, json=typo)
        assert r.status_code == 422, r.text
        assert "smoke_alrm" in r.json()["error"]["message"]
    assert (await env.client.get("/api/v1/silences", headers=leader)).json()["items"] == []


async def test_the_create_and_cancel_answers_have_the_shape_of_the_list(env: Env) -> None:
    leader = await env.login("leader")
    body = {"scope_id": env.mg, "duration_s": 3600, "comment": "换表"}
    made = await env.client.post("/api/v1/silences", headers=leader, json=body)
    assert made.status_code == 201, made.text
    [listed] = (await env.client.get("/api/v1/silences", headers=leader)).json()["items"]
    assert made.json() == listed
    assert made.json()["scope_name"] == env.reg.microgrids[env.mg].name
    assert made.json()["created_by_name"] == "组长"
    ended = await env.client.post(f"/api/v1/silences/{listed['id']}/cancel", headers=leader)
    assert set(ended.json()) == set(listed)
    assert ended.json()["scope_name"] == listed["scope_name"]


async def test_a_silence_of_one_device_names_it(env: Env) -> None:
    leader = await env.login("leader")
    meter = next(d for d in env.reg.devices_under(env.mg) if d.device_class is DeviceClass.WATER_METER)
    body = {"scope_id": env.mg, "device_id": meter.id, "duration_s": 3600, "comment": "换表"}
    made = await env.client.post("/api/v1/silences", headers=leader, json=body)
    assert made.status_code == 201, made.text
    assert made.json()["device_name"] == meter.label
    [listed] = (await env.client.get("/api/v1/silences", headers=leader)).json()["items"]
    assert listed["device_name"] == meter.label


async def test_a_device_silence_is_listed_only_where_its_device_is(env: Env) -> None:
    """The community's duty silences a meter of another micro-grid: that covers nothing of this micro-grid, so
    its leader does not see it (nor the meter's name); a silence of the whole community, or of a meter here, they
    do see."""
    community = env.reg.grids[env.reg.microgrids[env.mg].grid_id].community_id
    other = next(m for m in env.reg.microgrids if m != env.mg and within(env.reg, m, community))
    meters = {
        mg: next(d for d in env.reg.devices_under(mg) if d.device_class is DeviceClass.WATER_METER)
        for mg in (env.mg, other)
    }
    duty = await env.login("duty")
    made = {}
    for name, device in (("there", meters[other].id), ("here", meters[env.mg].id), ("all", None)):
        body = {"scope_id": community, "duration_s": 3600, "comment": name, "device_id": device}
        r = await env.client.post("/api/v1/silences", headers=duty, json=body)
        assert r.status_code == 201, r.text
        made[name] = r.json()["id"]
    for viewer in ("leader", "worker"):
        listed = (await env.client.get("/api/v1/silences", headers=await env.login(viewer))).json()["items"]
        assert sorted(s["id"] for s in listed) == sorted([made["here"], made["all"]])
        assert meters[other].id not in str(listed)
    listed = (await env.client.get("/api/v1/silences", headers=duty)).json()["items"]
    assert sorted(s["id"] for s in listed) == sorted(made.values())


async def test_a_refused_silence_names_the_place_not_its_id(env: Env) -> None:
    leader = {**await env.login("leader"), "Accept-Language": "zh-CN"}
    other = next(m for m in env.reg.microgrids.values() if m.id != env.mg)
    body = {"scope_id": other.id, "duration_s": 600, "comment": "换表"}
    for path in ("/api/v1/silences", "/api/v1/silences/preview"):
        r = await env.client.post(path, headers=leader, json=body)
        assert r.status_code == 403, r.text
        assert other.name in r.json()["error"]["message"]
        assert other.id not in r.json()["error"]["message"]
    r = await env.client.post(
        "/api/v1/silences", headers=leader, json={**body, "scope_id": env.mg, "device_id": "SD-9999999"}
    )
    assert r.status_code == 422
    assert env.reg.microgrids[env.mg].name in r.json()["error"]["message"]


async def test_the_device_picker_names_the_devices_of_the_scope_and_narrows_by_what_is_typed(env: Env) -> None:
    leader = await env.login("leader")
    r = await env.client.get("/api/v1/silences/devices", headers=leader, params={"scope": env.mg})
    assert r.status_code == 200, r.text
    mine = env.reg.devices_under(env.mg)
    listed = r.json()
    assert [d["id"] for d in listed["items"]] == [d.id for d in mine[:50]]
    assert listed["more"] is (len(mine) > 50)
    meter = next(d for d in mine if d.household_id is not None)
    household = env.reg.households[meter.household_id or ""]
    building = env.reg.buildings[meter.building_id]
    # by the door's number: the meter by where it is, as people say it
    r = await env.client.get(
        "/api/v1/silences/devices", headers=leader, params={"scope": env.mg, "q": f"{building.name} {household.unit}"}
    )
    found = {d["id"]: d for d in r.json()["items"]}
    assert found[meter.id] == {
        "id": meter.id,
        "device_class": meter.device_class.value,
        "name": f"{building.name} {household.unit} {meter.label}",
    }
    assert all(f"{building.name} {household.unit}" in d["name"] for d in found.values())
    # by part of its id, in any case
    r = await env.client.get(
        "/api/v1/silences/devices", headers=leader, params={"scope": env.mg, "q": meter.id.lower()}
    )
    assert [d["id"] for d in r.json()["items"]] == [meter.id]
    other = next(m for m in env.reg.microgrids if m != env.mg)
    r = await env.client.get("/api/v1/silences/devices", headers=leader, params={"scope": other})
    assert r.status_code == 403


async def test_the_device_picker_refuses_an_empty_scope_as_bad_input_in_the_callers_language(env: Env) -> None:
    """An empty scope is a malformed request (422, the field named), not a place the caller may not silence:
    a 403 would say "you may not silence “”", naming nothing."""
    leader = await env.login("leader")
    for lang, word in (("zh-CN", "scope: 至少"), ("en", "scope: String should have at least 1")):
        r = await env.client.get(
            "/api/v1/silences/devices", headers={**leader, "Accept-Language": lang}, params={"scope": ""}
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["fields"][0]["field"] == "scope"
        assert r.json()["error"]["message"].startswith(word), r.text
