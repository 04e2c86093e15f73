"""A photo a worker uploads, checked by its content and re-encoded clean. Pure CPU work (no I/O): the caller runs
`process` in a worker thread.

What is checked, in order, so that junk costs little and nothing of it is kept:
1. the size as uploaded (`UploadLimits.max_bytes`);
2. the first bytes: a JPEG, PNG or WebP signature, whatever the request's Content-Type says (an HTML page
   named photo.png is refused here);
3. the pixel count from the header, before any decoding (a decompression bomb is refused before it costs
   memory);
4. a full decode with Pillow, restricted to the format the signature named (a truncated or corrupt file fails).

What is stored is not the upload but a re-encoding of its pixels: turned upright as its EXIF orientation says,
then written without EXIF (GPS position, camera serial, time), XMP, comments or text chunks, and scaled down to
`max_side_px`. A file that is both a picture and something else (a polyglot) loses the something else. The
thumbnail is a JPEG of at most `thumb_px`."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from alerts.errors import UploadError
from alerts.media import UploadLimits
from core.i18n import tr

#: signature -> (media type, Pillow format)
_SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", "PNG"),
    (b"WEBP", 8, "image/webp", "WEBP"),
)
MEDIA_TYPES = tuple(t for _, _, t, _ in _SIGNATURES)
_SUFFIX = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


@dataclass(frozen=True, slots=True)
class Picture:
    """Encoded image bytes, their type and size, and the SHA-256 that names them in the blob store."""

    data: bytes
    media_type: str
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def key(self) -> str:
        """The content address: `sha256/ab/<hex>.<suffix>`."""
        digest = self.sha256
        return f"sha256/{digest[:2]}/{digest}.{_SUFFIX[self.media_type]}"


@dataclass(frozen=True, slots=True)
class Processed:
    photo: Picture
    thumb: Picture


def sniff(data: bytes) -> tuple[str, str] | None:
    """(media type, Pillow format) by the file's signature, or None."""
    for magic, offset, media_type, fmt in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic and (fmt != "WEBP" or data[:4] == b"RIFF"):
            return media_type, fmt
    return None


def process(data: bytes, limits: UploadLimits) -> Processed:
    """The photo to store and its thumbnail; `UploadError` (with its reason in zh-CN and en) for anything else."""
    if len(data) > limits.max_bytes:
        raise UploadError.too_large(len(data), limits.max_bytes)
    if not data:
        raise UploadError("empty", tr("errors.photo_empty"))
    kind = sniff(data)
    if kind is None:
        raise UploadError(
            "unsupported_type",
            tr("errors.photo_unsupported_type"),
            status=415,
        )
    media_type, fmt = kind
    try:
        with warnings.catch_warnings():
            # judged below against `limits.max_pixels`, with the picture's size in the reason
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as im:
                width, height = im.size
                if width * height > limits.max_pixels:
                    raise UploadError(
                        "too_many_pixels",
                        tr(
                            "errors.photo_too_many_pixels",
                            width=width,
                            height=height,
                            megapixels=f"{limits.max_pixels / 1e6:g}",
                        ),
                        status=413,
                    )
                im.load()
                upright = ImageOps.exif_transpose(im)
    except UploadError:
        raise
    except Image.DecompressionBombError:  # over twice Pillow's own limit: refused before its size is known here
        raise UploadError(
            "too_many_pixels",
            tr("errors.photo_far_too_many_pixels", megapixels=f"{limits.max_pixels / 1e6:g}"),
            status=413,
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Warning) as e:
        raise UploadError(
            "unreadable",
            tr("errors.photo_unreadable", why=type(e).__name__),
        ) from None
    return Processed(_encode(upright, media_type, limits.max_side_px), _encode(upright, "image/jpeg", limits.thumb_px))


def _encode(im: Image.Image, media_type: str, max_side: int) -> Picture:
    """`im` scaled to fit `max_side`, written as `media_type` with no metadata but its colour profile."""
    out = im.copy()
    out.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    icc = im.info.get("icc_profile")
    extra = {"icc_profile": icc} if isinstance(icc, bytes) else {}
    buf = io.BytesIO()
    if media_type == "image/jpeg":
        if out.mode not in ("RGB", "L"):
            out = out.convert("RGB")
        out.save(buf, "JPEG", quality=85, optimize=True, **extra)
    elif media_type == "image/png":
        if out.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            out = out.convert("RGBA")
        out.save(buf, "PNG", optimize=True, **extra)
    else:
        if out.mode not in ("RGB", "RGBA"):
            out = out.convert("RGBA" if "A" in out.mode else "RGB")
        out.save(buf, "WEBP", quality=85, **extra)
    return Picture(buf.getvalue(), media_type, out.width, out.height)
