"""Real pictures made with Pillow for the photo tests: a JPEG with EXIF (GPS position, camera, orientation), a
PNG with text chunks, and files that only pretend to be pictures."""

from __future__ import annotations

import io

from PIL import Image, PngImagePlugin

GPS_IFD = 0x8825
ORIENTATION = 0x0112
MAKE = 0x010F


def jpeg(width: int = 640, height: int = 480, *, orientation: int | None = None, gps: bool = True) -> bytes:
    """A JPEG with a red left half (to see rotations) and EXIF naming a camera and a GPS position."""
    im = Image.new("RGB", (width, height), (20, 120, 200))
    im.paste((220, 30, 30), (0, 0, width // 2, height))
    exif = Image.Exif()
    exif[MAKE] = "PhoneCam"
    if orientation is not None:
        exif[ORIENTATION] = orientation
    if gps:
        exif[GPS_IFD] = {1: "N", 2: (31.0, 14.0, 5.0), 3: "E", 4: (121.0, 28.0, 30.0)}
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif, quality=90)
    return buf.getvalue()


def png(width: int = 300, height: int = 200) -> bytes:
    im = Image.new("RGBA", (width, height), (10, 200, 90, 255))
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "home address: 桂花苑1号楼 1-101")
    buf = io.BytesIO()
    im.save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


HTML_AS_PNG = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
"""What an attacker names photo.png."""


def png_header_then_html() -> bytes:
    """A PNG signature followed by HTML: passes a glance at the first bytes, not a decode."""
    return b"\x89PNG\r\n\x1a\n" + HTML_AS_PNG * 4


def truncated_jpeg() -> bytes:
    data = jpeg()
    return data[: len(data) // 2]
