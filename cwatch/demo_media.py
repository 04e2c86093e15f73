"""The demo's camera snapshots: small pictures drawn on request, so a demo camera ticket shows a picture without
an NVR. Served only by `cwatch demo` (at `SNAPSHOT_PATH`); the demo's simulated cameras point there and the demo's
settings put its address on `media.hosts` (`cwatch.demo.prepare_demo`)."""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache

from PIL import Image, ImageDraw
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SNAPSHOT_PREFIX = "/demo"
"""The simulator's `media_base` path: its cameras ask for `<base>/snap/<device>/<n>.jpg`."""
SNAPSHOT_PATH = SNAPSHOT_PREFIX + "/snap/{device_id}/{name}"
SIZE = (320, 180)


@lru_cache(maxsize=256)
def snapshot_jpeg(device_id: str, name: str) -> bytes:
    """A 320×180 JPEG: a sky and facade in colours derived from the device, a framed "object", and the
    device and shot written on it. The same request gives the same picture."""
    digest = hashlib.sha256(f"{device_id}/{name}".encode()).digest()
    img = Image.new("RGB", SIZE, (120 + digest[0] % 60, 150 + digest[1] % 60, 190 + digest[2] % 60))
    draw = ImageDraw.Draw(img)
    draw.rectangle((40, 30, 280, 180), fill=(150 + digest[3] % 40, 140, 130))  # the facade
    for row in range(3):
        for col in range(5):
            x, y = 55 + col * 45, 45 + row * 40
            draw.rectangle((x, y, x + 25, y + 22), fill=(70, 90, 110))
    x, y = 60 + digest[4] % 180, 40 + digest[5] % 100
    draw.rectangle((x, y, x + 24, y + 24), outline=(255, 40, 40), width=3)  # the camera's detection box
    draw.rectangle((0, 158, SIZE[0], SIZE[1]), fill=(0, 0, 0))
    draw.text((6, 162), f"DEMO {device_id} #{name.removesuffix('.jpg')}", fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=70)
    return out.getvalue()


def snapshot_route() -> Route:
    """GET `SNAPSHOT_PATH`: the demo camera's picture (any device and shot; names are not looked up)."""

    async def snapshot(request: Request) -> Response:
        device_id, name = request.path_params["device_id"], request.path_params["name"]
        if len(device_id) > 64 or len(name) > 32 or not name.endswith(".jpg"):
            return Response(status_code=404)
        return Response(
            snapshot_jpeg(device_id, name), media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"}
        )

    return Route(SNAPSHOT_PATH, snapshot, methods=["GET"])
