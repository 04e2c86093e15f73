"""Silences (maintenance windows, 维护/测试时段): while one is active, raises it matches open no ticket and
notify nobody; they are only counted on the silence. Typical use: a scheduled fire-alarm test in one building's
micro-grid, a camera being re-aimed, a water main repair.

Rules of the game, chosen for safety:
- a silence needs a comment, an end (at most 7 days ahead, finite: no NaN or infinity) and a creator with a
  leader-or-above role whose scope covers the silence's scope, a node of the registry; it may say it started
  earlier, at most 1 day before now; a `device_id` must name a registered device within the scope;
- a silence without `rule_id` never hides a critical alert: silencing smoke or gas alarms takes naming the rule;
- clears are never silenced, and a ticket that is already active keeps counting repeats (someone is on it)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.audit import Who, record
from alerts.dbguard import translated
from alerts.errors import NotFoundError, SilenceDuplicateError, SilenceError, SilencePermissionError
from alerts.lifecycle import ALLOWED_ROLES, Action
from alerts.model import Account
from alerts.recurrence import Weekly, decode, encode
from alerts.scope import Hierarchy, in_scope, node_label, within
from alerts.tables import held_alerts, silences
from core.db import begin_write
from core.i18n import tr
from rules.alert import Alert, Severity

MAX_SILENCE_S = 7 * 86_400
#: A recurring silence (weekly windows) may run this long: a season of weekly meter maintenance.
MAX_RECURRING_S = 366 * 86_400
#: A silence may say it began earlier (maintenance already under way), but not more than this before now.
MAX_BACKDATE_S = 86_400


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    scope_id: str
    rule_id: str | None
    device_id: str | None
    starts_at: float
    ends_at: float
    comment: str
    created_by: str
    created_at: float
    cancelled_at: float | None = None
    cancelled_by: str | None = None
    suppressed: int = 0
    weekly: Weekly | None = None  # recurring: only inside these windows between starts_at and ends_at

    def active(self, now: float, tz: tzinfo = UTC) -> bool:
        if self.cancelled_at is not None or not self.starts_at <= now < self.ends_at:
            return False
        return self.weekly is None or self.weekly.covers(now, tz)

    def over(self, now: float, tz: tzinfo = UTC) -> bool:
        """Ended, cancelled, or (recurring) between two windows: what it held may be raised now."""
        return (
            self.cancelled_at is not None or now >= self.ends_at or (not self.active(now, tz) and now >= self.starts_at)
        )


def matches(s: Silence, alert: Alert, hierarchy: Hierarchy) -> bool:
    """True when the silence covers the alert (pure)."""
    if s.rule_id is None and alert.severity == Severity.CRITICAL:
        return False
    if s.rule_id is not None and s.rule_id != alert.rule_id:
        return False
    if s.device_id is not None and s.device_id != alert.device_id:
        return False
    return alert.microgrid_id == s.scope_id or within(hierarchy, alert.microgrid_id, s.scope_id)


def _row(r: Row[Any]) -> Silence:
    m = r._mapping
    return Silence(
        id=m["id"],
        scope_id=m["scope_id"],
        rule_id=m["rule_id"],
        device_id=m["device_id"],
        starts_at=m["starts_at"],
        ends_at=m["ends_at"],
        comment=m["comment"],
        created_by=m["created_by"],
        created_at=m["created_at"],
        cancelled_at=m["cancelled_at"],
        cancelled_by=m["cancelled_by"],
        suppressed=m["suppressed"],
        weekly=decode(m["repeat_days"], m["repeat_from"], m["repeat_to"]),
    )


_REPEAT = (silences.c.repeat_days, silences.c.repeat_from, silences.c.repeat_to)


def _same(column: ColumnElement[str | None], value: str | None) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _related(viewer: Account, scope_id: str, hierarchy: Hierarchy) -> bool:
    return in_scope(viewer, scope_id, hierarchy) or within(hierarchy, viewer.scope_id, scope_id)


def may_silence(actor: Account, scope_id: str, hierarchy: Hierarchy) -> bool:
    """Leaders and above, for a scope inside their own (operators anywhere)."""
    return actor.role in ALLOWED_ROLES[Action.ASSIGN] and (
        in_scope(actor, scope_id, hierarchy) or scope_id == actor.scope_id
    )


class SilenceStore:
    """Silences in the store. `tz` is the street's: weekly windows are its local times."""

    def __init__(self, engine: AsyncEngine, tz: tzinfo = UTC) -> None:
        self.engine = engine
        self.tz = tz

    async def create(
        self,
        actor: Account,
        hierarchy: Hierarchy,
        now: float,
        *,
        scope_id: str,
        ends_at: float,
        comment: str,
        starts_at: float | None = None,
        rule_id: str | None = None,
        device_id: str | None = None,
        weekly: Weekly | None = None,
        source: str = "",
    ) -> Silence:
        """A new silence (audited as `silence.create` by `actor` from `source`, the caller's address); with
        `weekly`, it silences only inside those windows and may run up to `MAX_RECURRING_S`."""
        start = now if starts_at is None else starts_at
        if not comment.strip():
            raise SilenceError(tr("errors.silence_needs_comment"))
        if not (math.isfinite(start) and math.isfinite(ends_at)):
            raise SilenceError(tr("errors.silence_not_finite"))
        if start < now - MAX_BACKDATE_S:
            raise SilenceError(tr("errors.silence_backdated"))
        if not start < ends_at:
            raise SilenceError(tr("errors.silence_ends_before_start"))
        if weekly is None and ends_at - now > MAX_SILENCE_S:
            raise SilenceError(tr("errors.silence_too_long"))
        if weekly is not None and ends_at - now > MAX_RECURRING_S:
            raise SilenceError(tr("errors.silence_recurring_too_long"))
        if weekly is not None and not weekly.windows(start, ends_at, self.tz, limit=1):
            raise SilenceError(tr("errors.silence_no_window"))
        if ends_at <= now:
            raise SilenceError(tr("errors.silence_in_past"))
        if not may_silence(actor, scope_id, hierarchy):
            raise SilencePermissionError(tr("errors.silence_not_yours", scope=node_label(hierarchy, scope_id)))
        if not within(hierarchy, scope_id, scope_id):
            raise SilenceError(tr("errors.silence_scope_unknown", scope=scope_id))
        if device_id and not within(hierarchy, device_id, scope_id):  # unknown and elsewhere read the same
            raise SilenceError(
                tr("errors.silence_device_unknown", device=device_id, scope=node_label(hierarchy, scope_id))
            )
        async with translated(), begin_write(self.engine) as conn:
            same = await conn.execute(
                select(silences.c.id)
                .where(
                    silences.c.cancelled_at.is_(None),
                    silences.c.scope_id == scope_id,
                    _same(silences.c.rule_id, rule_id or None),
                    _same(silences.c.device_id, device_id or None),
                    *(_same(c, v) for c, v in zip(_REPEAT, encode(weekly), strict=True)),
                    silences.c.starts_at < ends_at,
                    silences.c.ends_at > start,
                )
                .limit(1)
            )
            duplicate = same.scalar_one_or_none()
            if duplicate is not None:
                raise SilenceDuplicateError(tr("errors.silence_duplicate", id=duplicate))
            res = await conn.execute(
                silences.insert()
                .values(
                    scope_id=scope_id,
                    rule_id=rule_id or None,
                    device_id=device_id or None,
                    starts_at=start,
                    ends_at=ends_at,
                    comment=comment.strip(),
                    created_by=actor.username,
                    created_at=now,
                    suppressed=0,
                    **dict(zip(("repeat_days", "repeat_from", "repeat_to"), encode(weekly), strict=True)),
                )
                .returning(*silences.c)
            )
            created = _row(res.one())
            details: dict[str, Any] = {"rule_id": created.rule_id, "device_id": created.device_id}
            details.update(comment=created.comment, starts_at=created.starts_at, ends_at=created.ends_at)
            if weekly is not None:
                details["weekly"] = {"days": list(weekly.days), "from": weekly.start, "to": weekly.end}
            await record(conn, Who.account(actor, source), "silence.create", f"silence:{created.id}", now, details)
            return created

    async def cancel(
        self, actor: Account, hierarchy: Hierarchy, silence_id: int, now: float, source: str = ""
    ) -> Silence:
        async with translated(), begin_write(self.engine) as conn:
            row = (await conn.execute(select(silences).where(silences.c.id == silence_id))).first()
            if row is None or not _related(actor, _row(row).scope_id, hierarchy):
                raise NotFoundError(tr("errors.silence_not_found", id=silence_id))
            if not may_silence(actor, _row(row).scope_id, hierarchy):
                raise SilencePermissionError(tr("errors.silence_cancel_not_allowed"))
            res = await conn.execute(
                update(silences)
                .where(silences.c.id == silence_id, silences.c.cancelled_at.is_(None))
                .values(cancelled_at=now, cancelled_by=actor.username)
                .returning(*silences.c)
            )
            got = res.first()
            if got is None:  # already cancelled: nothing changed, nothing to audit
                return _row(row)
            details = {"scope_id": _row(row).scope_id}
            await record(conn, Who.account(actor, source), "silence.cancel", f"silence:{silence_id}", now, details)
            return _row(got)

    async def active(self, now: float) -> list[Silence]:
        q = select(silences).where(
            silences.c.cancelled_at.is_(None), silences.c.starts_at <= now, silences.c.ends_at > now
        )
        async with translated(), self.engine.connect() as conn:
            return [s for s in (_row(r) for r in await conn.execute(q)) if s.active(now, self.tz)]

    async def visible(self, viewer: Account, hierarchy: Hierarchy, now: float) -> list[Silence]:
        """Silences not yet over (active or upcoming) inside the viewer's scope or covering it (a leader must
        know that their micro-grid is silenced by the community); a silence of one device only when the device
        is in the viewer's scope (one in another micro-grid covers nothing of theirs)."""
        q = select(silences).where(silences.c.cancelled_at.is_(None), silences.c.ends_at > now).order_by(silences.c.id)
        async with translated(), self.engine.connect() as conn:
            rows = [_row(r) for r in await conn.execute(q)]
        return [s for s in rows if _related(viewer, s.device_id or s.scope_id, hierarchy)]

    async def count_suppressed(self, counts: dict[int, int]) -> None:
        if not counts:
            return
        async with translated(), begin_write(self.engine) as conn:
            for silence_id, n in counts.items():
                await conn.execute(
                    update(silences).where(silences.c.id == silence_id).values(suppressed=silences.c.suppressed + n)
                )

    # --- raises held until a window ends ---------------------------------------------------------------------
    # A raise of a lasting condition (`Alert.lasting`: a device offline, a leak) that a silence drops is held:
    # the rule engine raises it only once, so without this a device still broken when maintenance ends would
    # never get a ticket. Its clear lets it go; when the silence ends (or is cancelled) the rest are raised.

    async def hold(self, held: Sequence[tuple[int, Alert]], now: float) -> None:
        """Keep these (silence id, raise) pairs, in one transaction; a key already held under that silence keeps
        its first raise (the first raise dates the condition)."""
        if not held:
            return
        rows = [
            {"silence_id": sid, "dedup_key": a.dedup_key, "alert": _ALERT_JSON.encode(a), "held_at": now}
            for sid, a in held
        ]
        insert = sqlite_insert if self.engine.dialect.name == "sqlite" else postgresql_insert
        stmt = insert(held_alerts).on_conflict_do_nothing(index_elements=["silence_id", "dedup_key"])
        async with translated(), begin_write(self.engine) as conn:
            await conn.execute(stmt, rows)

    async def let_go(self, dedup_keys: Sequence[str]) -> None:
        """The conditions behind these keys ended (their clears came): nothing to raise for them later. Clears
        are common and held raises rare: a read finds out first whether there is anything to delete."""
        if not dedup_keys:
            return
        keys = list(dedup_keys)
        async with translated(), self.engine.connect() as conn:
            found = (
                await conn.execute(select(held_alerts.c.id).where(held_alerts.c.dedup_key.in_(keys)).limit(1))
            ).first()
        if found is None:
            return
        async with translated(), begin_write(self.engine) as conn:
            await conn.execute(delete(held_alerts).where(held_alerts.c.dedup_key.in_(keys)))

    async def held_after_end(self, now: float) -> list[tuple[int, Alert]]:
        """(row id, raise) held by silences that have ended, were cancelled, or (recurring) whose window has
        closed, oldest first."""
        q = (
            select(held_alerts.c.id.label("held_id"), held_alerts.c.alert, silences)
            .join(silences, silences.c.id == held_alerts.c.silence_id)
            .where(
                or_(
                    silences.c.ends_at <= now,
                    silences.c.cancelled_at.is_not(None),
                    silences.c.repeat_days.is_not(None),
                )
            )
            .order_by(held_alerts.c.id)
        )
        async with translated(), self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [(int(r.held_id), _ALERT_DECODER.decode(r.alert)) for r in rows if _row(r).over(now, self.tz)]

    async def forget_held(self, row_ids: Sequence[int]) -> None:
        if not row_ids:
            return
        async with translated(), begin_write(self.engine) as conn:
            await conn.execute(delete(held_alerts).where(held_alerts.c.id.in_(list(row_ids))))


_ALERT_JSON = msgspec.json.Encoder()
_ALERT_DECODER = msgspec.json.Decoder(Alert)


def first_match(active: Sequence[Silence], alert: Alert, hierarchy: Hierarchy) -> Silence | None:
    return next((s for s in active if matches(s, alert, hierarchy)), None)
