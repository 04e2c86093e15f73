"""Silences (maintenance windows): raises they match open no ticket until they end."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import tzinfo
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from alerts.api.deps import AlertsApi, Api, Viewer, client_address
from alerts.api.errors import error_responses, lang_of
from alerts.api.models import (
    MAX_ID,
    DeviceChoiceOut,
    DeviceChoicesOut,
    DeviceRefOut,
    RuleChoiceOut,
    ScopeNodeOut,
    ScopeTreeOut,
    SilenceBody,
    SilenceListItem,
    SilenceListOut,
    SilencePreviewBody,
    SilencePreviewOut,
    WeeklyIn,
    WeeklyOut,
    WindowOut,
)
from alerts.api.views import lookup, node_name
from alerts.errors import SilenceError, SilencePermissionError
from alerts.lifecycle import ACTIVE
from alerts.model import Account
from alerts.recurrence import RecurrenceError, Weekly, parse_weekly
from alerts.scope import node_label
from alerts.silence_preview import device_choices, preview, scope_tree
from alerts.silences import Silence, may_silence
from core.i18n import tr

log = logging.getLogger(__name__)

router = APIRouter(tags=["silences"])

SilenceId = Annotated[int, Path(ge=1, le=MAX_ID, description="the silence's id")]


@router.get("/silences", responses=error_responses(401))
async def list_silences(api: Api, viewer: Viewer, request: Request) -> SilenceListOut:
    """Active and upcoming silences inside your scope or covering it (a leader must know that the community
    silenced their micro-grid), those of one device only when the device is in your scope; `may_cancel` says
    whether you may end each."""
    now = api.service.clock.now()
    items = await api.service.silences.visible(viewer, api.registry(), now)
    return SilenceListOut(
        items=await _shaped(api, viewer, items, now, lang_of(request)), tz=zone_name(api.service.silences.tz)
    )


@router.post("/silences", status_code=201, responses=error_responses(401, 403))
async def create_silence(body: SilenceBody, request: Request, api: Api, viewer: Viewer) -> SilenceListItem:
    """Open a maintenance window (leaders and above, within their scope). Give `ends_at` or `duration_s`; with
    `weekly`, it silences only inside those windows (every Tuesday 09:00-11:00) until the end. An identical
    silence (scope, rule, device, windows) overlapping it is refused with 409. The answer has the shape of an
    item of the list. Times: `starts_at` and `ends_at` are instants (epoch seconds, no zone); the `weekly`
    windows' HH:MM are the street's local time (`tz` of GET /silences/scopes and of the list)."""
    now = api.service.clock.now()
    start, ends_at = _span(body.starts_at, body.ends_at, body.duration_s, now)
    _rule_classes(api, body.rule_id)
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
        weekly=_weekly(body.weekly),
        source=client_address(request),
    )
    [item] = await _shaped(api, viewer, [s], now, lang_of(request))
    return item


@router.get("/silences/scopes", responses=error_responses(401))
async def silence_scopes(api: Api, viewer: Viewer, request: Request) -> ScopeTreeOut:
    """The grid nodes (street to building) within your scope, with names, parents first: the silence form's
    picker. `may_silence` says which you may silence; `rules` are the rules in force by name (the form offers
    them); `tz` is the street's time zone, the one of the form's start, end and weekly windows."""
    items = scope_tree(api.registry(), viewer)
    in_force = sorted(api.rules()) if api.rules is not None else []
    titles = await api.rule_names(viewer, in_force)
    lang = lang_of(request)
    rules = [RuleChoiceOut(id=r, name=titles.get(r, {}).get(lang) or r) for r in in_force]
    return ScopeTreeOut(
        items=[ScopeNodeOut(**asdict(n)) for n in items], rules=rules, tz=zone_name(api.service.silences.tz)
    )


@router.get("/silences/devices", responses=error_responses(401, 403))
async def silence_devices(
    api: Api,
    viewer: Viewer,
    scope: Annotated[str, Query(min_length=1, max_length=64, description="a node you may silence")],
    q: Annotated[str, Query(max_length=64, description="part of a device's id or name")] = "",
) -> DeviceChoicesOut:
    """The devices of `scope` whose id or name contains `q`, by name (building, door, label), up to 50: the
    silence form's device picker. A scope you may not silence: 403."""
    hierarchy = api.registry()
    if not may_silence(viewer, scope, hierarchy):
        raise SilencePermissionError(tr("errors.silence_not_yours", scope=node_label(hierarchy, scope)))
    items, more = device_choices(hierarchy, scope, q)
    return DeviceChoicesOut(items=[DeviceChoiceOut(**asdict(d)) for d in items], more=more)


@router.post("/silences/preview", responses=error_responses(401, 403))
async def preview_silence(body: SilencePreviewBody, api: Api, viewer: Viewer) -> SilencePreviewOut:
    """What a silence would cover, before it is made: devices by class, a few by name, the rule, whether
    critical alarms stay loud, active tickets inside it. Nothing is stored."""
    hierarchy = api.registry()
    if not may_silence(viewer, body.scope_id, hierarchy):
        raise SilencePermissionError(tr("errors.silence_not_yours", scope=node_label(hierarchy, body.scope_id)))
    now = api.service.clock.now()
    start, end = _span(body.starts_at, body.ends_at, body.duration_s or (None if body.ends_at else 3600.0), now)
    weekly = _weekly(body.weekly)
    active = await api.service.list_tickets(viewer, status=sorted(ACTIVE), limit=500)
    classes = _rule_classes(api, body.rule_id)
    p = preview(hierarchy, body.scope_id, body.rule_id, body.device_id, active.items, classes)
    tz = api.service.silences.tz
    windows = weekly.windows(start, end, tz) if weekly is not None else [(start, end)]
    return SilencePreviewOut(
        devices=p.devices,
        by_class=p.by_class,
        sample=[DeviceRefOut(**asdict(d)) for d in p.sample],
        rule_id=p.rule_id,
        critical_excluded=p.critical_excluded,
        active_tickets=p.active_tickets,
        next_windows=[WindowOut(starts_at=a, ends_at=b) for a, b in windows],
    )


@router.post("/silences/{silence_id}/cancel", responses=error_responses(401, 403, 404))
async def cancel_silence(silence_id: SilenceId, request: Request, api: Api, viewer: Viewer) -> SilenceListItem:
    """End a silence now; what it held and is still wrong opens tickets at once. The answer has the shape of
    an item of the list."""
    now = api.service.clock.now()
    s = await api.service.silences.cancel(viewer, api.registry(), silence_id, now, source=client_address(request))
    try:  # what it held and is still wrong opens tickets now; else the escalation loop's next cycle does
        await api.service.release_held()
    except Exception:  # the cancel itself is done: say so
        log.exception("releasing the raises held by silence %s failed", silence_id)
    [item] = await _shaped(api, viewer, [s], now, lang_of(request))
    return item


async def _shaped(
    api: AlertsApi, viewer: Account, items: list[Silence], now: float, lang: str
) -> list[SilenceListItem]:
    """Silences as the list shows them (and the create and cancel answers): names of the scope, the device, the
    creator and the rule (in `lang`) beside their ids, and whether `viewer` may end each."""
    hierarchy = api.registry()
    creators = await api.accounts.display_names(s.created_by for s in items)
    titles = await api.rule_names(viewer, (s.rule_id for s in items if s.rule_id))
    return [
        SilenceListItem(
            **_fields(s, now, api.service.silences.tz),
            may_cancel=may_silence(viewer, s.scope_id, hierarchy),
            scope_name=node_name(hierarchy, s.scope_id),
            device_name=lookup(hierarchy, "devices", s.device_id, "label"),
            created_by_name=creators.get(s.created_by),
            rule_name=titles[s.rule_id][lang] if s.rule_id in titles else None,
        )
        for s in items
    ]


def zone_name(tz: tzinfo) -> str:
    """The IANA name of `tz` (a ZoneInfo's key; "UTC" for the UTC of datetime), what a browser's Intl takes."""
    key = getattr(tz, "key", None)
    return key if isinstance(key, str) else str(tz)


def _span(starts_at: float | None, ends_at: float | None, duration_s: float | None, now: float) -> tuple[float, float]:
    start = starts_at if starts_at is not None else now
    if (ends_at is None) == (duration_s is None):
        raise SilenceError(tr("errors.silence_end_or_duration"))
    return start, ends_at if ends_at is not None else start + (duration_s or 0)


def _weekly(w: WeeklyIn | None) -> Weekly | None:
    if w is None:
        return None
    try:
        return parse_weekly(w.days, w.from_, w.to)
    except RecurrenceError as e:
        raise SilenceError(tr(e.key, **e.values)) from None


def _fields(s: Silence, now: float, tz: tzinfo) -> dict[str, Any]:
    """A silence's fields for its response models: its windows shaped, `active` at `now`."""
    fields = {k: v for k, v in asdict(s).items() if k != "weekly"}
    w = s.weekly
    upcoming = w.windows(max(now, s.starts_at), s.ends_at, tz) if w is not None else [(s.starts_at, s.ends_at)]
    return {
        **fields,
        "active": s.active(now, tz),
        "weekly": WeeklyOut(days=list(w.days), from_=w.start, to=w.end) if w is not None else None,
        "next_windows": [WindowOut(starts_at=a, ends_at=b) for a, b in upcoming if s.cancelled_at is None],
    }


def _rule_classes(api: AlertsApi, rule_id: str | None) -> frozenset[str] | None:
    """The device classes `rule_id` judges (None: any); a rule not in force is refused, so a typo in a rule id
    is not a silence that silences nothing."""
    if rule_id is None or api.rules is None:
        return None
    rules = api.rules()
    if rule_id not in rules:
        raise SilenceError(tr("errors.silence_rule_unknown", rule=rule_id))
    return rules[rule_id]
