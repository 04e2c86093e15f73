"""Photos and camera media through the API: scoped like the ticket (another grid's worker gets the same 404 as
for a missing ticket), bad uploads refused in the caller's language with nothing stored, the upload recorded on
the timeline, a photo required before resolving where the settings say so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import AccountStore
from alerts.api import AlertsApi, install_error_handlers, mount
from alerts.blobs import FileBlobStore
from alerts.media import MediaPolicy, UploadLimits
from alerts.photos import PhotoRequirement, Photos
from alerts.service import TicketService
from alerts.tables import ticket_photos
from core.clock import ManualClock
from devices.model import Role
from rules.alert import Severity

from .fakes import FakeHierarchy, alert
from .pictures import HTML_AS_PNG, jpeg, png, truncated_jpeg

PASSWORD = "correct-horse-42"
LIMIT = 256 * 1024


class Env:
    def __init__(self, client: httpx.AsyncClient, service: TicketService, engine: AsyncEngine, media: Path) -> None:
        self.client = client
        self.service = service
        self.engine = engine
        self.media = media

    async def login(self, username: str) -> dict[str, str]:
        r = await self.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    async def photo_rows(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(ticket_photos))).scalar_one())

    def files(self) -> list[Path]:
        return [p for p in self.media.rglob("*") if p.is_file()]


@pytest.fixture
async def env(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Env]:
    clock = ManualClock(50_000.0)
    hierarchy = FakeHierarchy()
    policy = MediaPolicy.of(
        ["nvr.example.cn"], photo_rules=["thrown_object"], limits=UploadLimits(max_bytes=LIMIT, max_side_px=800)
    )
    guard = PhotoRequirement(engine, policy).check_resolve
    service = TicketService(engine, lambda: hierarchy, clock, resolve_guard=guard)
    accounts = AccountStore(engine, clock, session_ttl=3600)
    for username, role, scope, person in [
        ("w1", Role.GRID_WORKER, "M1", "p-w1"),
        ("w2", Role.GRID_WORKER, "M2", "p-w2"),
        ("l1", Role.MICROGRID_LEADER, "M1", "p-l1"),
    ]:
        await accounts.create_account(username, PASSWORD, role, scope, username.upper(), person)
    photos = Photos(service, FileBlobStore(tmp_path / "media"), policy)
    app = FastAPI()
    install_error_handlers(app)
    mount(app, AlertsApi(service, accounts, lambda: hierarchy, media=policy, photos=photos))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield Env(client, service, engine, tmp_path / "media")


CAMERA = {
    "device_class": "ai_camera",
    "event": "thrown_object",
    "snapshot_url": "https://nvr.example.cn/snap/402.jpg",
    "clip_url": "http://10.0.0.8/clip/402.mp4",
}


async def thrown_object(env: Env) -> int:
    [t] = await env.service.apply(
        [alert("thrown_object:CAM-1", severity=Severity.CRITICAL, rule="thrown_object", details=CAMERA)]
    )
    return t.id


async def upload(
    env: Env, tid: int, auth: dict[str, str], data: bytes, content_type: str = "image/jpeg", lang: str = ""
) -> httpx.Response:
    headers = {**auth, "Content-Type": content_type, **({"Accept-Language": lang} if lang else {})}
    return await env.client.post(f"/api/v1/tickets/{tid}/photos", headers=headers, content=data)


async def test_camera_media_shows_only_from_listed_hosts(env: Env) -> None:
    tid = await thrown_object(env)
    r = await env.client.get(f"/api/v1/tickets/{tid}/media", headers=await env.login("w1"))
    assert r.status_code == 200, r.text
    body = r.json()
    camera = {m["kind"]: m for m in body["camera"]}
    assert camera["snapshot"]["shown"] is True
    assert camera["clip"]["shown"] is False
    assert "10.0.0.8 is not on media.hosts" in camera["clip"]["why_not"]
    assert body["photo_required"] is True
    assert body["photo_missing"] is True
    zh = await env.client.get(
        f"/api/v1/tickets/{tid}/media", headers={**await env.login("w1"), "Accept-Language": "zh-CN"}
    )
    assert "10.0.0.8 不在 media.hosts 中" in {m["kind"]: m for m in zh.json()["camera"]}["clip"]["why_not"]


async def test_a_worker_attaches_a_photo_and_it_is_on_the_timeline(env: Env) -> None:
    tid = await thrown_object(env)
    w1 = await env.login("w1")
    r = await upload(env, tid, w1, jpeg())
    assert r.status_code == 201, r.text
    photo = r.json()
    assert photo["media_type"] == "image/jpeg"
    assert (photo["width"], photo["height"]) == (640, 480)
    full = await env.client.get(photo["url"], headers=w1)
    assert full.status_code == 200
    assert full.headers["content-type"] == "image/jpeg"
    assert b"PhoneCam" not in full.content  # EXIF gone
    thumb = await env.client.get(photo["thumb_url"], headers=w1)
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/jpeg"
    assert len(thumb.content) < len(full.content)
    detail = (await env.client.get(f"/api/v1/tickets/{tid}", headers=w1)).json()
    event = detail["timeline"][-1]
    assert (event["action"], event["actor"], event["data"]["photo_id"]) == ("photo", "w1", photo["id"])
    media = (await env.client.get(f"/api/v1/tickets/{tid}/media", headers=w1)).json()
    assert [p["id"] for p in media["photos"]] == [photo["id"]]
    assert media["photo_missing"] is False


async def test_why_a_ticket_has_no_chart_is_said_in_the_callers_language(env: Env) -> None:
    tid = await thrown_object(env)
    w1 = await env.login("w1")
    for lang, text in (("zh-CN,zh;q=0.9", "本服务器没有连接遥测数据库"), ("en-US,en;q=0.9", "no telemetry store")):
        r = await env.client.get(f"/api/v1/tickets/{tid}/evidence", headers={**w1, "Accept-Language": lang})
        assert r.status_code == 200, r.text
        assert r.json()["kind"] == "none"
        assert text in r.json()["note"]


async def test_another_grids_worker_cannot_see_or_add_photos(env: Env) -> None:
    tid = await thrown_object(env)
    r = await upload(env, tid, await env.login("w1"), png(), "image/png")
    photo = r.json()
    w2 = await env.login("w2")
    missing = await env.client.get("/api/v1/tickets/999999/photos/1", headers=w2)
    assert missing.status_code == 404
    for path in (photo["url"], photo["thumb_url"], f"/api/v1/tickets/{tid}/media", f"/api/v1/tickets/{tid}/evidence"):
        other = await env.client.get(path, headers=w2)
        assert other.status_code == 404, path
        assert other.json()["error"]["message"] == f"ticket {tid} not found"  # exactly as a missing ticket
    added = await upload(env, tid, w2, jpeg())
    assert added.status_code == 404
    assert await env.photo_rows() == 1


@pytest.mark.parametrize(
    ("data", "content_type", "status", "zh", "en"),
    [
        (HTML_AS_PNG, "image/png", 415, "只能上传 JPEG、PNG 或 WebP", "only JPEG, PNG or WebP"),
        (truncated_jpeg(), "image/jpeg", 422, "照片无法读取", "cannot be read"),
        (b"\xff\xd8\xff" + b"\0" * LIMIT, "image/jpeg", 413, "照片太大", "too large"),
    ],
    ids=["html-as-png", "truncated", "oversized"],
)
async def test_bad_uploads_are_refused_in_the_callers_language_and_nothing_is_stored(
    env: Env, data: bytes, content_type: str, status: int, zh: str, en: str
) -> None:
    tid = await thrown_object(env)
    w1 = await env.login("w1")
    for lang, text in (("zh-CN,zh;q=0.9,en;q=0.8", zh), ("en-US,en;q=0.9", en)):
        r = await upload(env, tid, w1, data, content_type, lang)
        assert r.status_code == status, r.text
        assert text in r.json()["error"]["message"]
    assert await env.photo_rows() == 0
    assert env.files() == []
    timeline = (await env.client.get(f"/api/v1/tickets/{tid}", headers=w1)).json()["timeline"]
    assert "photo" not in [e["action"] for e in timeline]


async def test_resolving_needs_a_photo_where_the_settings_say_so(env: Env) -> None:
    tid = await thrown_object(env)
    w1 = await env.login("w1")
    await env.client.post(f"/api/v1/tickets/{tid}/ack", headers=w1)
    note = {"note": "已到场处理，物品已清理"}
    r = await env.client.post(f"/api/v1/tickets/{tid}/resolve", headers={**w1, "Accept-Language": "zh-CN"}, json=note)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "photo_required"
    assert "现场照片" in r.json()["error"]["message"]
    assert (await upload(env, tid, w1, jpeg())).status_code == 201
    r = await env.client.post(f"/api/v1/tickets/{tid}/resolve", headers=w1, json=note)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "resolved"
    # another rule's ticket needs none
    [other] = await env.service.apply([alert("smoke_alarm:d9")])
    await env.client.post(f"/api/v1/tickets/{other.id}/ack", headers=w1)
    assert (await env.client.post(f"/api/v1/tickets/{other.id}/resolve", headers=w1, json=note)).status_code == 200


async def test_a_resolved_ticket_takes_no_photo(env: Env) -> None:
    [t] = await env.service.apply([alert("smoke_alarm:d2")])
    w1 = await env.login("w1")
    await env.client.post(f"/api/v1/tickets/{t.id}/ack", headers=w1)
    await env.client.post(f"/api/v1/tickets/{t.id}/resolve", headers=w1, json={"note": "done"})
    r = await upload(env, t.id, w1, jpeg())
    assert r.status_code == 409
    assert await env.photo_rows() == 0
