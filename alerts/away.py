"""Households' "away confirmed" (travel, hospital): until when, why and who said so, bounded and audited.

The absence rules stay silent for a household while it is away; this store keeps the record (the rule engine
keeps its own state). An away ends at most `max_days` ahead (30 by default, `care.away_max_days`): a date in
9999 would silence a lone elderly resident's care rules for good."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.audit import Who, record
from alerts.dbguard import translated
from alerts.errors import ConflictError, ValidationError
from alerts.model import SYSTEM_ACTOR
from alerts.tables import household_away
from core.db import begin_write, is_sqlite
from core.i18n import tr

DEFAULT_MAX_DAYS = 30.0
BY_WATER_USE = Who(SYSTEM_ACTOR, "rules")
"""Who ends an away when the rule engine saw water used during it (`HouseholdAways.ended_by_use`)."""


class AwayError(ValidationError):
    code = "invalid_away"


class NotAwayError(ConflictError):
    """Ending an away when none is recorded (it ended, or was never set)."""

    code = "not_away"


@dataclass(frozen=True, slots=True)
class Away:
    household_id: str
    until: float
    reason: str
    set_by: str
    set_at: float


class HouseholdAways:
    def __init__(self, engine: AsyncEngine, max_days: float = DEFAULT_MAX_DAYS) -> None:
        self.engine = engine
        self.max_days = max_days

    async def set(self, household_id: str, until: float, reason: str, who: Who, now: float) -> Away:
        """Record an away until `until` (after now, at most `max_days` ahead), with its audit row."""
        reason = reason.strip()
        if not reason:
            raise AwayError(tr("errors.away_needs_reason"))
        if not math.isfinite(until) or until <= now:
            raise AwayError(tr("errors.away_in_past"))
        if until - now > self.max_days * 86_400:
            raise AwayError(tr("errors.away_too_long", days=f"{self.max_days:g}"))
        away = Away(household_id, until, reason, who.actor, now)
        insert = sqlite_insert if is_sqlite(self.engine) else postgresql_insert
        values = {"until": until, "reason": reason, "set_by": who.actor, "set_at": now}
        stmt = insert(household_away).values(household_id=household_id, **values)
        stmt = stmt.on_conflict_do_update(index_elements=[household_away.c.household_id], set_=values)
        async with translated(), begin_write(self.engine) as conn:
            await conn.execute(stmt)
            await record(conn, who, "household.away", household_id, now, {"until": until, "reason": reason})
        return away

    async def end(self, household_id: str, who: Who, now: float) -> Away:
        """The household is back: forget its away (audited). Returns the away it ended; `NotAwayError` when none
        is on (nothing is audited: no away ended)."""
        current = await self.get(household_id, now)
        if current is None:
            raise NotAwayError(tr("errors.not_away", id=household_id))
        async with translated(), begin_write(self.engine) as conn:
            await conn.execute(delete(household_away).where(household_away.c.household_id == household_id))
            await record(conn, who, "household.away_end", household_id, now, {"was_until": current.until})
        return current

    async def ended_by_use(self, household_id: str, used_at: float, now: float) -> Away | None:
        """The rule engine saw water used at `used_at` during the household's away and ended it there (an
        absence rule with `away_ends_on_use`): end the record too, audited as ended by water use (actor
        `system`). An away recorded after the use, or ending before it, is left alone. Returns the away ended."""
        current = await self.get(household_id, used_at)
        if current is None or current.set_at > used_at:
            return None
        async with translated(), begin_write(self.engine) as conn:
            await conn.execute(
                delete(household_away).where(
                    household_away.c.household_id == household_id, household_away.c.set_at == current.set_at
                )
            )
            details = {"was_until": current.until, "reason": "water used", "used_at": used_at}
            await record(conn, BY_WATER_USE, "household.away_end", household_id, now, details)
        return current

    async def active(self, now: float) -> list[Away]:
        """Every away that has not ended by `now`."""
        q = select(household_away).where(household_away.c.until > now)
        async with translated(), self.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [Away(r["household_id"], r["until"], r["reason"], r["set_by"], r["set_at"]) for r in rows]

    async def get(self, household_id: str, now: float) -> Away | None:
        """The household's away if it has not ended by `now`."""
        q = select(household_away).where(household_away.c.household_id == household_id, household_away.c.until > now)
        async with translated(), self.engine.connect() as conn:
            r = (await conn.execute(q)).mappings().first()
        if r is None:
            return None
        return Away(r["household_id"], r["until"], r["reason"], r["set_by"], r["set_at"])
