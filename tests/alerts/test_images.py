"""Photos are judged by their content: real pictures pass, re-encoded upright without EXIF or text chunks and
with a thumbnail; pretend pictures, huge ones and damaged ones are refused with a reason in zh-CN and en."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from alerts.errors import UploadError
from alerts.images import process, sniff
from alerts.media import UploadLimits

from .pictures import GPS_IFD, HTML_AS_PNG, MAKE, jpeg, png, png_header_then_html, truncated_jpeg

LIMITS = UploadLimits(max_bytes=2 * 1024**2, max_pixels=4_000_000, max_side_px=1024, thumb_px=320)


def test_a_jpeg_is_stored_without_exif_and_gets_a_thumbnail() -> None:
    original = jpeg()
    assert Image.open(io.BytesIO(original)).getexif().get(GPS_IFD) is not None  # the control: EXIF is there
    out = process(original, LIMITS)
    stored = Image.open(io.BytesIO(out.photo.data))
    assert stored.format == "JPEG"
    assert out.photo.media_type == "image/jpeg"
    exif = stored.getexif()
    assert GPS_IFD not in exif
    assert MAKE not in exif
    assert b"Exif" not in out.photo.data[:200]  # no APP1 Exif segment at all
    assert b"PhoneCam" not in out.photo.data
    thumb = Image.open(io.BytesIO(out.thumb.data))
    assert thumb.format == "JPEG"
    assert max(thumb.size) == 320
    assert (out.photo.width, out.photo.height) == (640, 480)
    assert out.photo.key == f"sha256/{out.photo.sha256[:2]}/{out.photo.sha256}.jpg"


def test_a_photo_taken_sideways_is_stored_upright() -> None:
    """EXIF orientation 6 (the phone was turned): the pixels are rotated, the tag dropped."""
    out = process(jpeg(640, 480, orientation=6), LIMITS)
    assert (out.photo.width, out.photo.height) == (480, 640)
    im = Image.open(io.BytesIO(out.photo.data)).convert("RGB")
    top, bottom = im.getpixel((240, 10)), im.getpixel((240, 630))
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert top[0] > 150
    assert bottom[2] > 150


def test_a_png_loses_its_text_chunks() -> None:
    original = png()
    assert b"home address" in original
    out = process(original, LIMITS)
    assert out.photo.media_type == "image/png"
    assert b"tEXt" not in out.photo.data
    assert "桂花苑".encode() not in out.photo.data


def test_large_photos_are_scaled_to_the_longest_side() -> None:
    out = process(jpeg(1800, 1200, gps=False), LIMITS)
    assert (out.photo.width, out.photo.height) == (1024, 683)


@pytest.mark.parametrize(
    ("data", "code", "status"),
    [
        (HTML_AS_PNG, "photo_unsupported_type", 415),
        (png_header_then_html(), "photo_unreadable", 422),
        (truncated_jpeg(), "photo_unreadable", 422),
        (b"", "photo_empty", 422),
        (b"GIF89a" + b"\0" * 100, "photo_unsupported_type", 415),
    ],
    ids=["html-named-png", "png-signature-then-html", "truncated-jpeg", "empty", "gif"],
)
def test_what_is_not_a_picture_is_refused(data: bytes, code: str, status: int) -> None:
    with pytest.raises(UploadError) as info:
        process(data, LIMITS)
    assert (info.value.code, info.value.status) == (code, status)
    assert info.value.message_for("zh-CN") != info.value.message_for("en")
    assert "照片" in info.value.message_for("zh-CN")


def test_too_large_and_too_many_pixels_are_refused_before_decoding() -> None:
    with pytest.raises(UploadError) as big:
        process(b"\xff\xd8\xff" + b"\0" * (LIMITS.max_bytes + 1), LIMITS)
    assert (big.value.code, big.value.status) == ("photo_too_large", 413)
    assert "MB" in big.value.message_for("en")
    # a small file that decodes to a huge image (a decompression bomb): refused by the header's size
    bomb = io.BytesIO()
    Image.new("1", (4000, 4000)).save(bomb, "PNG")
    assert len(bomb.getvalue()) < 100_000
    with pytest.raises(UploadError) as pixels:
        process(bomb.getvalue(), LIMITS)
    assert (pixels.value.code, pixels.value.status) == ("photo_too_many_pixels", 413)


@pytest.mark.parametrize("size", [(10_000, 9_000), (14_000, 13_000)])  # over Pillow's limit, over twice it
def test_a_huge_picture_is_too_many_pixels_not_a_damaged_file(size: tuple[int, int]) -> None:
    """Pillow's own bomb guard fires first on pictures this big: the uploader still hears that it has too many
    pixels (413), not that the file is damaged."""
    bomb = io.BytesIO()
    Image.new("1", size).save(bomb, "PNG")
    with pytest.raises(UploadError) as pixels:
        process(bomb.getvalue(), UploadLimits())
    assert (pixels.value.code, pixels.value.status) == ("photo_too_many_pixels", 413)
    assert "百万像素" in pixels.value.message_for("zh-CN")
    assert "megapixels" in pixels.value.message_for("en")


def test_sniffing_reads_signatures_not_names() -> None:
    assert sniff(jpeg()) == ("image/jpeg", "JPEG")
    assert sniff(png()) == ("image/png", "PNG")
    webp = io.BytesIO()
    Image.new("RGB", (10, 10)).save(webp, "WEBP")
    assert sniff(webp.getvalue()) == ("image/webp", "WEBP")
    assert sniff(HTML_AS_PNG) is None
