"""A ticket's pictures on a worker's phone (390×844) in real headless Chromium: the camera's snapshot where its
host is allowed (and why not where it is not), a photo taken or picked attached from the board, a photo asked
for before resolving, and a file that is no picture refused with the server's reason."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest
from PIL import Image
from playwright.async_api import Browser

from alerts.media import MediaPolicy
from devices.model import Role
from devices.sample import sample_street

from .board_app import Login, alert_dict, build_app, serve
from .browser import PHONE, watched_page
from .test_board_browser import PASSWORD, A, inject, login

pytestmark = pytest.mark.browser

TOUCH_PX = 44
CAMERA = {
    "device_class": "ai_camera",
    "event": "thrown_object",
    "snapshot_url": "https://nvr.example.cn/snap/402.jpg",
    "clip_url": "http://10.0.0.8/clip/402.mp4",  # not on media.hosts: kept, not shown
}


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    reg = sample_street(start=None)
    wa = reg.people_at(A, Role.GRID_WORKER)[0]
    folder = tmp_path_factory.mktemp("photos")
    policy = MediaPolicy.of(["nvr.example.cn"], photo_rules=["thrown_object"])
    app = build_app(
        folder / "board.db",
        reg,
        [Login("worker_a", PASSWORD, Role.GRID_WORKER, A, wa.name, wa.id)],
        media=policy,
        media_dir=folder / "media",
    )
    with serve(app) as url:
        yield url


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (180, 40, 40)).save(buf, "PNG")
    return buf.getvalue()


async def test_a_worker_sees_the_cameras_picture_and_attaches_a_photo_before_resolving(
    board: str, browser: Browser
) -> None:
    from playwright.async_api import expect

    [tid] = await inject(
        board,
        alert_dict("thrown_object:CAM-9", A, "高空抛物", "critical", time.time(), "thrown_object", details=CAMERA),
    )
    page, errors = await watched_page(browser, viewport=PHONE, has_touch=True, is_mobile=True)
    await login(page, board, "worker_a")
    await page.locator(f'.ticket[data-id="{tid}"]').click()
    media = page.get_by_test_id("media")
    snapshot = media.get_by_test_id("camera-snapshot")
    await expect(snapshot).to_have_attribute("src", CAMERA["snapshot_url"])
    await expect(media.get_by_test_id("camera-hidden")).to_contain_text("10.0.0.8")
    await expect(page.locator("#media-note")).to_contain_text("解决前须上传")
    add = page.locator("#photo-add")
    await add.scroll_into_view_if_needed()
    box = await add.bounding_box()
    assert box is not None
    assert box["height"] >= TOUCH_PX

    # a file that is no picture: refused with the server's reason, nothing shown
    await page.set_input_files(
        "#photo-file", files=[{"name": "x.png", "mimeType": "image/png", "buffer": b"<html>no</html>"}]
    )
    await expect(page.locator("#action-error")).to_contain_text("JPEG、PNG 或 WebP")
    await expect(media.get_by_test_id("photo")).to_have_count(0)

    await page.set_input_files("#photo-file", files=[{"name": "scene.png", "mimeType": "image/png", "buffer": png()}])
    await expect(media.get_by_test_id("photo")).to_have_count(1)
    await expect(page.locator("#media-note")).to_have_text("")
    await expect(page.locator("#timeline")).to_contain_text("上传照片")
    # the thumbnail, loaded with the session: the image on the page now (a live update or the refresh redraws
    # the ticket, and with it a new image), once the browser has it
    loaded = await page.wait_for_function(
        """() => {
            const img = document.querySelector('#media [data-testid="photo"]');
            return img && img.complete && img.naturalWidth > 0 ? img.naturalWidth : null;
        }""",
        timeout=20_000,
    )
    thumb = await loaded.json_value()
    assert 0 < thumb <= 320

    await page.click('#actions button[data-action="resolve"]')
    await page.fill("#note", "已清理，照片已上传")
    await page.click("#note-submit")
    await expect(page.get_by_test_id("detail-title")).to_be_visible()
    await expect(page.locator("#photo-add")).to_be_hidden()  # resolved: no more photos
    assert errors == []


async def test_a_photo_too_large_is_refused_with_the_servers_reason(board: str, browser: Browser) -> None:
    from playwright.async_api import expect

    [tid] = await inject(
        board,
        alert_dict("thrown_object:CAM-10", A, "高空抛物", "critical", time.time(), "thrown_object", details=CAMERA),
    )
    page = await (await browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)).new_page()
    await login(page, board, "worker_a")
    await page.locator(f'.ticket[data-id="{tid}"]').click()
    big = b"\xff\xd8\xff" + b"\0" * (12 * 1024 * 1024)
    await page.set_input_files("#photo-file", files=[{"name": "big.jpg", "mimeType": "image/jpeg", "buffer": big}])
    await expect(page.locator("#action-error")).to_contain_text("照片太大")
    await expect(page.get_by_test_id("media").get_by_test_id("photo")).to_have_count(0)
