"""The audit log: who changed what, when and from where, for changes that are not tickets (tickets have their
own timeline): accounts, silences, households' "away", the registry and the rules.

A change and its audit row are written in one transaction (`record` takes the change's connection), so there
is never a change without its row. Rows are only added; operators read them through `GET /api/v1/audit` and
`cwatch audit`. Times are the wall clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerts.dbguard import translated
from alerts.model import Account
from alerts.tables import audit_log
from core.clock import Clock, SystemClock
from core.db import begin_write


@dataclass(frozen=True, slots=True)
class Who:
    """Who made a change and from where (an address, `cli` or `config`)."""

    actor: str
    source: str
    role: str | None = None

    @classmethod
    def account(cls, account: Account, source: str) -> Who:
        return cls(account.username, source, account.role.value)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    actor_role: str | None
    source: str
    action: str
    target: str
    details: dict[str, Any] = field(default_factory=dict)


async def record(
    conn: AsyncConnection, who: Who, action: str, target: str, at: float, details: dict[str, Any] | None = None
) -> None:
    """Add a row inside the caller's transaction (the one making the change)."""
    await conn.execute(
        audit_log.insert().values(
            at=at,
            actor=who.actor[:64],
            actor_role=who.role,
            source=who.source[:64],
            action=action,
            target=target[:128],
            details=details or {},
        )
    )


async def record_many(
    conn: AsyncConnection, who: Who, action: str, at: float, changes: list[tuple[str, dict[str, Any]]]
) -> None:
    """Add a row per (target, details) of one change made to many (an import), in one statement."""
    if not changes:
        return
    base = {"at": at, "actor": who.actor[:64], "actor_role": who.role, "source": who.source[:64], "action": action}
    await conn.execute(audit_log.insert(), [{**base, "target": t[:128], "details": d} for t, d in changes])


class AuditLog:
    def __init__(self, engine: AsyncEngine, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock: Clock = clock or SystemClock()

    async def add(self, who: Who, action: str, target: str, details: dict[str, Any] | None = None) -> None:
        """Record a change made outside this store's transactions (a registry import, a rules reload)."""
        async with translated(), begin_write(self.engine) as conn:
            await record(conn, who, action, target, self.clock.now(), details)

    async def list(
        self, *, limit: int = 100, before: int | None = None, action: str | None = None, actor: str | None = None
    ) -> list[AuditEntry]:
        """Newest first; `before` continues below an id, `action` is a prefix (`silence.` or `silence.create`)."""
        t = audit_log
        q = select(t).order_by(t.c.id.desc()).limit(limit)
        if before is not None:
            q = q.where(t.c.id < before)
        if action:
            q = q.where(t.c.action.startswith(action, autoescape=True))
        if actor:
            q = q.where(t.c.actor == actor)
        async with translated(), self.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [
            AuditEntry(
                id=r["id"],
                at=r["at"],
                actor=r["actor"],
                actor_role=r["actor_role"],
                source=r["source"],
                action=r["action"],
                target=r["target"],
                details=dict(r["details"] or {}),
            )
            for r in rows
        ]
