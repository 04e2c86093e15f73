"""The site plan's content (pure) and its routes: buildings and areas of the caller's scope only, a building's
units top floor first, a building outside the scope not found."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alerts.siteplan import building_units, site_plan
from devices.model import Role
from devices.sample import sample_street

from .board_app import Login, build_app, serve

REG = sample_street(start=None)
A, B = "mg-yg-1-1", "mg-yg-1-2"


def test_the_plan_of_a_scope_holds_its_buildings_with_coordinates_and_areas() -> None:
    plan = site_plan(REG, lambda mg: mg == A)
    assert [a.microgrid_id for a in plan.areas] == [A]
    area = plan.areas[0]
    assert area.grid_id is not None
    assert area.community_name is not None
    assert {b.microgrid_id for b in plan.buildings} == {A}
    assert len(plan.buildings) == sum(b.microgrid_id == A for b in REG.buildings.values())
    assert all(b.lat is not None and b.lon is not None for b in plan.buildings)  # the sample street is placed
    households = {h for b in plan.buildings for h in b.households}
    assert households == {h.id for h in REG.households.values() if REG.microgrid_of(h.id) == A}
    assert sum(b.lone_elderly for b in plan.buildings) == sum(REG.households[h].care.watched for h in households)


def test_a_buildings_units_are_listed_top_floor_first() -> None:
    building = next(b for b in REG.buildings.values() if b.floors > 2)
    found = building_units(REG, building.id)
    assert found is not None
    _, units = found
    assert units
    floors = [u.floor for u in units]
    assert floors == sorted(floors, reverse=True)
    assert building_units(REG, "b-none") is None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    worker = REG.people_at(A, Role.GRID_WORKER)[0]
    logins = [Login("worker_a", "siteplan-password", Role.GRID_WORKER, A, worker.name, worker.id)]
    with serve(build_app(Path(tmp_path_factory.mktemp("plan")) / "b.db", REG, logins)) as url:
        yield url


async def test_the_routes_answer_within_the_callers_scope_only(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        assert (await client.get("/api/v1/siteplan")).status_code == 401
        r = await client.post("/api/v1/auth/login", json={"username": "worker_a", "password": "siteplan-password"})
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        plan = (await client.get("/api/v1/siteplan", headers=headers)).json()
        assert {b["microgrid_id"] for b in plan["buildings"]} == {A}
        assert plan["tile_url"] is None  # no tiles unless configured
        mine = plan["buildings"][0]["id"]
        units = await client.get(f"/api/v1/siteplan/buildings/{mine}", headers=headers)
        assert units.status_code == 200
        assert units.json()["units"]
        other = next(b.id for b in REG.buildings.values() if b.microgrid_id == B)
        refused = await client.get(f"/api/v1/siteplan/buildings/{other}", headers=headers)
        assert refused.status_code == 404
        assert refused.json()["error"]["message"] == f"building {other} not found"
