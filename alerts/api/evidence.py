"""A ticket's evidence chart: the household's water use against its usual use, or the device's recent values,
read from the telemetry store (SQLite or InfluxDB). Scoped like the ticket."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from alerts.api.deps import Api, Viewer
from alerts.api.errors import error_responses, lang_of
from alerts.api.evidence_models import EvidenceOut, MarkerOut, SeriesOut
from alerts.api.models import MAX_ID
from alerts.errors import NotFoundError, StoreError
from alerts.evidence import Chart, build_chart
from alerts.scope import in_scope
from core.i18n import localized, tr

router = APIRouter(tags=["media"])

TicketId = Annotated[int, Path(ge=1, le=MAX_ID, description="the ticket's id")]


class TelemetryUnavailableError(StoreError):
    code = "telemetry_unavailable"
    public_message = tr("errors.telemetry_unavailable")


@router.get("/tickets/{ticket_id}/evidence", responses=error_responses(401, 404))
async def ticket_evidence(ticket_id: TicketId, api: Api, viewer: Viewer, request: Request) -> EvidenceOut:
    """What the telemetry store shows about the ticket: for a lone-elderly water ticket (and a water meter's) the
    household's use per hour over 72 h against its usual use at that hour (14 days before), with how long it
    has been quiet and how long it usually is at most; for another device's ticket, its values over 72 h.
    `kind` `none` with a `note` when there is nothing to chart."""
    ticket = await api.service.store.get(ticket_id)
    hierarchy = api.registry()
    if ticket is None or not in_scope(viewer, ticket.microgrid_id, hierarchy):
        raise NotFoundError(tr("errors.ticket_not_found", id=ticket_id))
    if api.telemetry is None:
        return _out(Chart("none", note=tr("board.evidence_note.no_telemetry")), lang_of(request))
    try:
        chart = await build_chart(ticket, hierarchy, api.telemetry, api.service.clock.now(), api.tz)
    except Exception as e:  # the store's errors (SinkUnavailable and the driver's): a 503 with the cause logged
        raise TelemetryUnavailableError(f"evidence of ticket {ticket_id}: {type(e).__name__}: {e}") from e
    return _out(chart, lang_of(request))


def _out(c: Chart, lang: str) -> EvidenceOut:
    return EvidenceOut(
        kind=c.kind,
        start=c.start,
        bucket_s=c.bucket_s,
        series=[SeriesOut(name=s.name, unit=s.unit, values=s.values) for s in c.series],
        usual_low=c.usual_low,
        usual_mid=c.usual_mid,
        usual_high=c.usual_high,
        markers=[MarkerOut(at=at, label=label) for at, label in c.markers],
        quiet_h=c.quiet_h,
        usual_quiet_h=c.usual_quiet_h,
        note=localized(c.note, lang) if c.note is not None else None,
    )
