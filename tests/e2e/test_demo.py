"""`make demo` in a test: the service on embedded defaults (amqtt broker, SQLite) with the simulator publishing
the sample street; the demo leader logs in and tickets of their own micro-grid appear through the API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from cwatch.demo import (
    DemoOptions,
    create_demo_accounts,
    demo_accounts,
)
from devices.model import Role
from devices.sample import sample_street
from tests.support.demo import running_demo


def test_demo_accounts_cover_every_role_and_map_to_people() -> None:
    reg = sample_street(1)
    accounts = demo_accounts(reg)
    assert {a.role for a in accounts} == set(Role)
    worker = next(a for a in accounts if a.role is Role.GRID_WORKER)
    assert worker.person_id in reg.people
    assert reg.people[worker.person_id].scope_id == worker.scope_id


async def test_demo_produces_tickets_from_the_simulated_street(tmp_path: Path) -> None:
    # The demo scenario injects its first incident 10 s in; run it 20x faster so the test is short.
    options = DemoOptions(seed=1, speed=1.0)
    async with running_demo(tmp_path, options, clock_speed=20.0, worker_on_duty=True) as (parts, _):
        # `cwatch demo --keep` finds the accounts made by the last run: they get new passwords, nothing fails
        created = await create_demo_accounts(parts)
        leader, password = next((a, p) for a, p in created if a.role is Role.MICROGRID_LEADER)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{parts.http_port}", timeout=10) as client:
            board = await client.get("/")
            assert board.status_code == 200
            assert "cwatch" in board.text
            login = await client.post("/api/v1/auth/login", json={"username": leader.username, "password": password})
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            deadline = asyncio.get_running_loop().time() + 60
            items: list[dict[str, Any]] = []
            while not items and asyncio.get_running_loop().time() < deadline:
                r = await client.get("/api/v1/tickets", headers=headers)
                assert r.status_code == 200, r.text
                items = r.json()["items"]
                if not items:
                    await asyncio.sleep(0.2)
            # the leader's own micro-grid gets every other incident of the demo: their board fills within a minute
            assert items, "no ticket in the demo leader's micro-grid within 60 s"
            assert {t["microgrid_id"] for t in items} == {leader.scope_id}
            worker = next(a for a, _ in created if a.role is Role.GRID_WORKER)
            assert {t["assignee_id"] for t in items} == {worker.person_id}  # the demo worker's "Mine"

            # a camera ticket shows the snapshot the demo serves itself, from an address its CSP lets images load from
            street, street_pw = next((a, p) for a, p in created if a.role is Role.STREET_DUTY)
            login = await client.post("/api/v1/auth/login", json={"username": street.username, "password": street_pw})
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            snapshot = await demo_snapshot(client, headers)
            assert snapshot["shown"], snapshot
            assert snapshot["url"].startswith(f"http://127.0.0.1:{parts.http_port}/demo/snap/")
            picture = await client.get(snapshot["url"])
            assert picture.status_code == 200
            assert picture.headers["content-type"] == "image/jpeg"
            assert picture.content.startswith(b"\xff\xd8")  # a JPEG
            csp = board.headers["content-security-policy"]
            img_src = next(d for d in csp.split(";") if d.strip().startswith("img-src"))
            assert "127.0.0.1:*" in img_src.split()


async def demo_snapshot(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """The first camera snapshot on any ticket the account sees, waiting up to 60 s for one."""
    loop = asyncio.get_running_loop()
    deadline, seen = loop.time() + 60, set()
    while loop.time() < deadline:
        r = await client.get("/api/v1/tickets", headers=headers)
        assert r.status_code == 200, r.text
        for t in r.json()["items"]:
            if t["id"] in seen:
                continue
            media = await client.get(f"/api/v1/tickets/{t['id']}/media", headers=headers)
            assert media.status_code == 200, media.text
            snapshots = [m for m in media.json()["camera"] if m["kind"] == "snapshot"]
            if snapshots:
                return dict(snapshots[0])
            seen.add(t["id"])
        await asyncio.sleep(0.2)
    raise AssertionError("no camera ticket with a snapshot within 60 s")
