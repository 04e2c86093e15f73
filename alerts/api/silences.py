"""Silences (maintenance windows): raises they match open no ticket until they end."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Request

from alerts.api.deps import Api, Viewer, client_address
from alerts.api.errors import error_responses
from alerts.api.models import (
    MAX_ID,
    DeviceRefOut,
    ScopeNodeOut,
    ScopeTreeOut,
    SilenceBody,
    SilenceListItem,
    SilenceListOut,
    SilenceOut,
    SilencePreviewBody,
    SilencePreviewOut,
)
from alerts.api.views import node_name
from alerts.errors import SilenceError, SilencePermissionError
from alerts.lifecycle import ACTIVE
from alerts.silence_preview import preview, scope_tree
from alerts.silences import may_silence
from core.i18n import tr

log = logging.getLogger(__name__)

router = APIRouter(tags=["silences"])

SilenceId = Annotated[int, Path(ge=1, le=MAX_ID, description="the silence's id")]


@router.get("/silences", responses=error_responses(401))
async def list_silences(api: Api, viewer: Viewer) -> SilenceListOut:
    """Active and upcoming silences inside your scope or covering it (a leader must know that the community
    silenced their micro-grid); `may_cancel` says whether you may end each."""
    now = api.service.clock.now()
    hierarchy = api.registry()
    items = await api.service.silences.visible(viewer, hierarchy, now)
    creators = await api.accounts.display_names(s.created_by for s in items)
    return SilenceListOut(
        items=[
            SilenceListItem(
                **asdict(s),
                active=s.active(now),
                may_cancel=may_silence(viewer, s.scope_id, hierarchy),
                scope_name=node_name(hierarchy, s.scope_id),
                created_by_name=creators.get(s.created_by),
            )
            for s in items
        ]
    )


@router.post("/silences", status_code=201, responses=error_responses(401, 403))
async def create_silence(body: SilenceBody, request: Request, api: Api, viewer: Viewer) -> SilenceOut:
    """Open a maintenance window (leaders and above, within their scope). Give `ends_at` or `duration_s`."""
    now = api.service.clock.now()
    start = body.starts_at if body.starts_at is not None else now
    if (body.ends_at is None) == (body.duration_s is None):
        raise SilenceError(tr("errors.silence_end_or_duration"))
    ends_at = body.ends_at if body.ends_at is not None else start + (body.duration_s or 0)
    s = await api.service.silences.create(
        viewer,
        api.registry(),
        now,
        scope_id=body.scope_id,
        ends_at=ends_at,
        comment=body.comment,
        starts_at=start,
        rule_id=body.rule_id,
        device_id=body.device_id,
        source=client_address(request),
    )
    return SilenceOut(**asdict(s), active=s.active(now))


@router.get("/silences/scopes", responses=error_responses(401))
async def silence_scopes(api: Api, viewer: Viewer) -> ScopeTreeOut:
    """The grid nodes (street to building) within your scope, with names, parents first: the silence form's
    picker. `may_silence` says which you may silence."""
    items = scope_tree(api.registry(), viewer)
    return ScopeTreeOut(items=[ScopeNodeOut(**asdict(n)) for n in items])


@router.post("/silences/preview", responses=error_responses(401, 403))
async def preview_silence(body: SilencePreviewBody, api: Api, viewer: Viewer) -> SilencePreviewOut:
    """What a silence would cover, before it is made: devices by class, a few by name, the rule, whether
    critical alarms stay loud, active tickets inside it. Nothing is stored."""
    hierarchy = api.registry()
    if not may_silence(viewer, body.scope_id, hierarchy):
        raise SilencePermissionError(tr("errors.silence_not_yours", scope=body.scope_id))
    active = await api.service.list_tickets(viewer, status=sorted(ACTIVE), limit=500)
    p = preview(hierarchy, body.scope_id, body.rule_id, body.device_id, active.items)
    return SilencePreviewOut(
        devices=p.devices,
        by_class=p.by_class,
        sample=[DeviceRefOut(**asdict(d)) for d in p.sample],
        rule_id=p.rule_id,
        critical_excluded=p.critical_excluded,
        active_tickets=p.active_tickets,
    )


@router.post("/silences/{silence_id}/cancel", responses=error_responses(401, 403, 404))
async def cancel_silence(silence_id: SilenceId, request: Request, api: Api, viewer: Viewer) -> SilenceOut:
    """End a silence now; what it held and is still wrong opens tickets at once."""
    now = api.service.clock.now()
    s = await api.service.silences.cancel(viewer, api.registry(), silence_id, now, source=client_address(request))
    try:  # what it held and is still wrong opens tickets now; else the escalation loop's next cycle does
        await api.service.release_held()
    except Exception:  # the cancel itself is done: say so
        log.exception("releasing the raises held by silence %s failed", silence_id)
    return SilenceOut(**asdict(s), active=s.active(now))
