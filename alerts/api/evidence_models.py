"""Response bodies of a ticket's evidence: camera media, attached photos and the evidence chart."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class CameraMediaOut(BaseModel):
    kind: Literal["snapshot", "clip"]
    url: str = Field(description="as the camera sent it (http or https)")
    host: str
    shown: bool = Field(description="its host is on `media.hosts`: the board shows it (and its CSP allows it)")
    why_not: str | None = Field(description="when not shown: why")


class PhotoOut(BaseModel):
    id: int
    ticket_id: int
    media_type: Literal["image/jpeg", "image/png", "image/webp"]
    bytes: int = Field(description="size as stored (re-encoded without metadata)")
    width: int
    height: int
    uploaded_at: float
    uploaded_by: str = Field(description="username")
    url: str = Field(description="the photo (same scope as the ticket)")
    thumb_url: str = Field(description="a JPEG of at most 320 px")


class TicketMediaOut(BaseModel):
    """What the ticket holds as pictures: the camera's and the people's."""

    camera: list[CameraMediaOut] = Field(description="snapshot and clip from the ticket's details")
    photos: list[PhotoOut] = Field(description="attached by people, oldest first")
    photo_required: bool = Field(description="resolving needs a photo attached since the ticket became active")
    photo_missing: bool = Field(description="required and none attached yet")
    max_upload_bytes: int
    accepts: list[str] = Field(description="media types a photo may have (judged by its content)")


class SeriesOut(BaseModel):
    name: str = Field(description="`water_l` (litres per hour) or the device's field")
    unit: str
    values: list[float | None] = Field(description="one per bucket from `start`; null: no data")


class MarkerOut(BaseModel):
    at: float
    label: Literal["alarm", "last_use"]


class EvidenceOut(BaseModel):
    """The evidence chart of a ticket: what the telemetry store says about the household or device."""

    kind: Literal["water_use", "device_values", "none"]
    start: float = Field(description="the first bucket's start (epoch seconds)")
    bucket_s: float
    series: list[SeriesOut]
    usual_low: list[float | None] = Field(description="water: 25th percentile at this hour of the day (14 days)")
    usual_mid: list[float | None] = Field(description="water: median at this hour of the day")
    usual_high: list[float | None] = Field(description="water: 75th percentile at this hour of the day")
    markers: list[MarkerOut]
    quiet_h: float | None = Field(description="water: hours since the last hour with use")
    usual_quiet_h: float | None = Field(description="water: its longest quiet stretch on 9 days of 10 (14 days)")
    note: str | None = Field(description="why there is no chart or no data, in the caller's language")
