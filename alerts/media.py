"""What a ticket shows of a camera's snapshot and clip, and when resolving a ticket needs a photo. Pure.

A camera event carries `snapshot_url` and `clip_url` (already refused at decode unless http(s) and not this
machine's or a link-local host: `devices.payloads.MediaUrl`); the rule copies them into the alert's details. The
board shows a URL only when its host is on `media.hosts` (`MediaPolicy.hosts`), and the board's
Content-Security-Policy allows exactly those hosts, so a URL the server would not show the browser would not load
either. Other URLs stay on the ticket, listed as not shown with the reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from core.i18n import tr
from core.urls import AllowEntry, media_allowed, parse_allow_entry
from rules.alert import Severity

MediaKind = Literal["snapshot", "clip"]
#: detail keys that hold camera media, and what each is
MEDIA_FIELDS: dict[str, MediaKind] = {"snapshot_url": "snapshot", "clip_url": "clip"}


@dataclass(frozen=True, slots=True)
class Media:
    kind: MediaKind
    url: str
    host: str
    shown: bool
    why_not: str | None  # when not shown: why, for people


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """What a photo may be: at most `max_bytes` as uploaded and `max_pixels` decoded; it is stored at most
    `max_side_px` wide and high, with a thumbnail of at most `thumb_px`."""

    max_bytes: int = 10 * 1024**2
    max_pixels: int = 40_000_000
    max_side_px: int = 2560
    thumb_px: int = 320


@dataclass(frozen=True, slots=True)
class MediaPolicy:
    """The media side of the settings (`media.*`): the camera hosts the board shows, and which tickets need a
    photo before they are resolved (by rule or by severity; none by default)."""

    hosts: tuple[AllowEntry, ...] = ()
    photo_rules: frozenset[str] = frozenset()
    photo_severities: frozenset[Severity] = frozenset()
    limits: UploadLimits = field(default_factory=UploadLimits)

    @classmethod
    def of(
        cls,
        hosts: Sequence[str] = (),
        *,
        photo_rules: Sequence[str] = (),
        photo_severities: Sequence[str] = (),
        limits: UploadLimits | None = None,
    ) -> MediaPolicy:
        return cls(
            tuple(parse_allow_entry(h) for h in hosts),
            frozenset(photo_rules),
            frozenset(Severity(s) for s in photo_severities),
            limits or UploadLimits(),
        )

    def needs_photo(self, rule_id: str, severity: Severity) -> bool:
        """Whether resolving a ticket of this rule and severity needs a photo attached first."""
        return rule_id in self.photo_rules or severity in self.photo_severities

    def media_of(self, details: Mapping[str, Any]) -> list[Media]:
        """The camera media in a ticket's details, each marked shown or not (and why not)."""
        out: list[Media] = []
        for key, kind in MEDIA_FIELDS.items():
            url = details.get(key)
            if not isinstance(url, str) or not url:
                continue
            try:
                host = urlsplit(url).hostname or ""
            except ValueError:
                host = ""
            shown = media_allowed(url, self.hosts)
            why = None if shown else tr("errors.media_host_not_listed", host=host or "—")
            out.append(Media(kind, url, host, shown, why))
        return out
