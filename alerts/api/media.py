"""A ticket's pictures: the camera's snapshot and clip, and photos people attach (upload, read, thumbnail).

Scoped like the ticket: a caller who cannot see the ticket gets the same 404 as for a missing ticket. An upload
is the photo's bytes as the request body (`Content-Type` image/jpeg, image/png or image/webp; what counts is
the content), refused with a reason in the caller's language (`Accept-Language`) and nothing stored when it is
too large (413), not a picture (415) or unreadable (422)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from alerts.api.deps import Api, Viewer
from alerts.api.errors import error_responses, lang_of
from alerts.api.evidence_models import CameraMediaOut, PhotoOut, TicketMediaOut
from alerts.api.models import MAX_ID
from alerts.errors import AlertsError, UploadError
from alerts.images import MEDIA_TYPES
from alerts.photos import Photo, Photos
from core.i18n import localized, tr

router = APIRouter(tags=["media"])

TicketId = Annotated[int, Path(ge=1, le=MAX_ID, description="the ticket's id")]
PhotoId = Annotated[int, Path(ge=1, le=MAX_ID, description="the photo's id")]
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_IMAGE = {t: _BINARY for t in MEDIA_TYPES}


class PhotosUnavailableError(AlertsError):
    code = "unavailable"
    status = 503


def _photos(api: Api) -> Photos:
    if api.photos is None:
        raise PhotosUnavailableError(tr("errors.photos_unavailable"))
    return api.photos


def photo_out(p: Photo) -> PhotoOut:
    base = f"/api/v1/tickets/{p.ticket_id}/photos/{p.id}"
    return PhotoOut(
        id=p.id,
        ticket_id=p.ticket_id,
        media_type=p.media_type,  # one of MEDIA_TYPES, written by alerts.images
        bytes=p.bytes,
        width=p.width,
        height=p.height,
        uploaded_at=p.uploaded_at,
        uploaded_by=p.uploaded_by,
        url=base,
        thumb_url=base + "/thumb",
    )


@router.get("/tickets/{ticket_id}/media", responses=error_responses(401, 404))
async def ticket_media(ticket_id: TicketId, request: Request, api: Api, viewer: Viewer) -> TicketMediaOut:
    """The camera's snapshot and clip (shown only from `media.hosts`), the photos attached, and whether resolving
    needs a photo (`media.photo_required_rules` / `_severities`)."""
    photos = _photos(api)
    ticket = await photos.visible(viewer, ticket_id)
    required = photos.needs_photo(ticket)
    lang = lang_of(request)
    return TicketMediaOut(
        camera=[
            CameraMediaOut(
                kind=m.kind, url=m.url, host=m.host, shown=m.shown, why_not=m.why_not and localized(m.why_not, lang)
            )
            for m in api.media.media_of(ticket.details)
        ],
        photos=[photo_out(p) for p in await photos.of_ticket(ticket_id)],
        photo_required=required,
        photo_missing=required and await photos.since_active(ticket) == 0,
        max_upload_bytes=api.media.limits.max_bytes,
        accepts=list(MEDIA_TYPES),
    )


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it is known to exceed `limit` (by its length header, or while read)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise UploadError.too_large(int(length), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise UploadError.too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/tickets/{ticket_id}/photos",
    status_code=201,
    responses=error_responses(401, 404, 409, 413, 415),
    openapi_extra={"requestBody": {"required": True, "content": _IMAGE}},
)
async def attach_photo(ticket_id: TicketId, request: Request, api: Api, viewer: Viewer) -> PhotoOut:
    """Attach a photo (the body: a JPEG, PNG or WebP picture) to a ticket being worked on. It is checked by its
    content, turned upright, stored without EXIF (no GPS position) and given a thumbnail; the timeline records it
    (`photo`). 413: too large; 415: not a JPEG, PNG or WebP; 422: unreadable; 409: the ticket is not active."""
    photos = _photos(api)
    await photos.visible(viewer, ticket_id)  # out of scope: 404 before the body is read
    data = await _body(request, api.media.limits.max_bytes)
    return photo_out(await photos.attach(viewer, ticket_id, data))


def _image(data: bytes, media_type: str, name: str) -> Response:
    headers = {
        "Cache-Control": "private, max-age=86400",
        "Content-Disposition": f'inline; filename="{name}"',
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    return Response(data, media_type=media_type, headers=headers)


_SUFFIX = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


@router.get(
    "/tickets/{ticket_id}/photos/{photo_id}",
    response_class=Response,
    responses={200: {"content": _IMAGE, "description": "the photo"}, **error_responses(401, 404)},
)
async def get_photo(ticket_id: TicketId, photo_id: PhotoId, api: Api, viewer: Viewer) -> Response:
    """A photo of a ticket, as stored."""
    data, media_type = await _photos(api).read(viewer, ticket_id, photo_id, thumb=False)
    return _image(data, media_type, f"ticket-{ticket_id}-photo-{photo_id}.{_SUFFIX.get(media_type, 'bin')}")


@router.get(
    "/tickets/{ticket_id}/photos/{photo_id}/thumb",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": _BINARY}, "description": "the thumbnail"}, **error_responses(401, 404)},
)
async def get_thumb(ticket_id: TicketId, photo_id: PhotoId, api: Api, viewer: Viewer) -> Response:
    """A photo's thumbnail (JPEG, at most 320 px)."""
    data, media_type = await _photos(api).read(viewer, ticket_id, photo_id, thumb=True)
    return _image(data, media_type, f"ticket-{ticket_id}-photo-{photo_id}-thumb.jpg")
