"""Households' "away confirmed" (travel, hospital): until when, why and who said so, bounded and audited.

The absence rules stay silent for a household while it is away; this store keeps the record (the rule engine
keeps its own state). An away ends at most `max_days` ahead (30 by default, `care.away_max_days`): a date in
9999 would silence a lone elderly resident's care rules for good.

The registry (households.csv, an operator's import) may hold a household away too. When water use ends that
away in the rules (`away_ends_on_use`), the end is recorded here (`RegistryAwayEnd`), not written into the
registry: the file stays the operator's, and the record says which of its aways is over (a re-import with
another date is a new away, in force again)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Delete, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.audit import Who, record
from alerts.dbguard import translated
from alerts.errors import ConflictError, ValidationError
from alerts.model import SYSTEM_ACTOR
from alerts.tables import household_away, registry_away_end
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


@dataclass(frozen=True, slots=True)
class RegistryAwayEnd:
    """The registry's away until `until` that water use ended: used from `used_at` on, shown by `device_id`'s
    reading at `read_at` (event time; None when the signal did not say), heard of at `ended_at`."""

    household_id: str
    until: float
    used_at: float
    device_id: str | None
    read_at: float | None
    ended_at: float


@dataclass(frozen=True, slots=True)
class UseSeen:
    """The water use that ended an away: from `used_at` on (event time), shown by `device_id`'s reading at
    `read_at` (None when the rule's signal did not say)."""

    used_at: float
    device_id: str | None = None
    read_at: float | None = None


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
            # the away read above, and only if still there: another hand may have ended it (or set a new one)
            if (await conn.execute(_the(current))).rowcount == 0:
                raise NotAwayError(tr("errors.not_away", id=household_id))
            await record(conn, who, "household.away_end", household_id, now, {"was_until": current.until})
        return current

    async def ended_by_use(self, household_id: str, use: UseSeen, now: float) -> Away | None:
        """The rule engine saw water used (`use`) during the household's away and ended it there (an absence
        rule with `away_ends_on_use`): end the record too, audited as ended by water use (actor `system`). An
        away recorded after the use, or ending before it, is left alone. Returns the away ended."""
        used_at = use.used_at
        current = await self.get(household_id, used_at)
        if current is None or current.set_at > used_at:
            return None
        async with translated(), begin_write(self.engine) as conn:
            if (await conn.execute(_the(current))).rowcount == 0:
                return None  # ended meanwhile (a person, the same signal handed over twice): audited there
            details = {"was_until": current.until, "reason": "water used", **_use_details(use)}
            await record(conn, BY_WATER_USE, "household.away_end", household_id, now, details)
        return current

    async def registry_ended_by_use(self, household_id: str, until: float, use: UseSeen, now: float) -> bool:
        """The rule engine saw water used during the away the registry holds until `until` and ended it there
        (`away_ends_on_use`): record that (what the board and `GET .../away` show), audited as ended by water
        use (actor `system`, `registry: true`). The registry itself is left as imported. Once per away: the
        same signal again (rules judging readings again after a restart) changes nothing. Returns whether it
        recorded the end."""
        values = {
            "until": until,
            "used_at": use.used_at,
            "device_id": use.device_id,
            "read_at": use.read_at,
            "ended_at": now,
        }
        insert = sqlite_insert if is_sqlite(self.engine) else postgresql_insert
        stmt = insert(registry_away_end).values(household_id=household_id, **values)
        # one statement decides, in the write's own transaction: an end already recorded for this away is kept
        # (no second audit row when two hand-offs of the same signal meet), another away's is replaced
        recorded = stmt.on_conflict_do_update(
            index_elements=[registry_away_end.c.household_id],
            set_=values,
            where=registry_away_end.c.until != stmt.excluded.until,
        ).returning(registry_away_end.c.household_id)
        details = {"registry": True, "was_until": until, "reason": "water used", **_use_details(use)}
        async with translated(), begin_write(self.engine) as conn:
            if (await conn.execute(recorded)).first() is None:
                return False
            await record(conn, BY_WATER_USE, "household.away_end", household_id, now, details)
        return True

    async def registry_end(self, household_id: str, until: float) -> RegistryAwayEnd | None:
        """How water use ended the registry's away until `until`, or None: not ended (the registry's away is in
        force while it lasts; an end recorded for another of its dates is for an away no longer imported)."""
        q = select(registry_away_end).where(
            registry_away_end.c.household_id == household_id, registry_away_end.c.until == until
        )
        async with translated(), self.engine.connect() as conn:
            r = (await conn.execute(q)).mappings().first()
        if r is None:
            return None
        return RegistryAwayEnd(r["household_id"], r["until"], r["used_at"], r["device_id"], r["read_at"], r["ended_at"])

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


def _the(away: Away) -> Delete:
    """Deletes `away` itself: none other recorded for its household since (by when it was set)."""
    return delete(household_away).where(
        household_away.c.household_id == away.household_id, household_away.c.set_at == away.set_at
    )


def _use_details(use: UseSeen) -> dict[str, object]:
    """The audit row's words for the use that ended an away: when, and the reading that showed it if known."""
    details: dict[str, object] = {"used_at": use.used_at}
    if use.device_id is not None:
        details["device_id"] = use.device_id
    if use.read_at is not None:
        details["read_at"] = use.read_at
    return details
