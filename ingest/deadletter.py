"""Dead letters: refused messages kept with their reason, so an operator can see what a broken device sends.

They live in the relational store (SQLite or PostgreSQL), so they survive restarts, and the table is bounded:
beyond `max_rows` the oldest rows are deleted in the same transaction as the insert, so a device spamming junk
cannot fill the disk. Payloads are stored up to `max_payload_bytes` (the original size is kept).

Refused messages reach them from the spool file (`ingest.mover`), which numbers them. `add_once` stores such a
numbered run and, in the same transaction, the highest number stored per spool (`ingest_dead_letter_marks`), so
a run stored again after a crash, or after a store that committed but failed to say so, is not stored twice.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.db import begin_write
from ingest.errors import IngestError
from ingest.refusals import RefusalReason, RefusedMessage

__all__ = ["DeadLetter", "DeadLetterError", "DeadLetters", "NewDeadLetter", "create_tables", "metadata"]

metadata = sa.MetaData()

dead_letters = sa.Table(
    "ingest_dead_letters",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("topic", sa.Text(), nullable=False),
    sa.Column("payload", sa.LargeBinary(), nullable=False),
    sa.Column("payload_size", sa.Integer(), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text(), nullable=False),
    sa.Column("received_at", sa.Double(), nullable=False),
    sa.Index("ix_ingest_dead_letters_reason_id", "reason", "id"),
)

marks = sa.Table(
    "ingest_dead_letter_marks",
    metadata,
    sa.Column("spool_id", sa.String(32), primary_key=True),  # `ingest.spool.Spool.spool_id`
    sa.Column("stored_up_to", sa.BigInteger(), nullable=False),  # the highest refused-row id stored
)

PAYLOAD_TEXT_MAX = 2000


class DeadLetterError(IngestError):
    """The dead-letter table could not be read or written."""


NewDeadLetter = RefusedMessage
"""One refused message to record (a plain 5-tuple works too)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    topic: str
    payload: bytes
    payload_text: str  # UTF-8 with replacement characters, truncated for display
    payload_size: int  # the original size; `payload` may be cut at `max_payload_bytes`
    reason: RefusalReason | str
    detail: str
    received_at: float


async def create_tables(engine: AsyncEngine) -> None:
    """Create the dead-letter tables (idempotent) in a scratch database, for tests and benchmarks; the service's
    store gets them from the migrations (`cwatch.migrations`)."""
    try:
        async with begin_write(engine) as conn:
            await conn.run_sync(metadata.create_all)
    except SQLAlchemyError as e:
        raise DeadLetterError(f"cannot create dead-letter table: {e}") from e


def _text(payload: bytes) -> str:
    text = payload[: PAYLOAD_TEXT_MAX * 4].decode("utf-8", errors="replace")
    return text if len(text) <= PAYLOAD_TEXT_MAX else text[:PAYLOAD_TEXT_MAX] + "…"


def _reason(value: str) -> RefusalReason | str:
    try:
        return RefusalReason(value)
    except ValueError:
        return value


class DeadLetters:
    def __init__(self, engine: AsyncEngine, *, max_rows: int = 100_000, max_payload_bytes: int = 65_536) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self._engine = engine
        self.max_rows = max_rows
        self.max_payload_bytes = max_payload_bytes

    async def add(
        self, topic: str, payload: bytes, reason: RefusalReason | str, detail: str, received_at: float
    ) -> None:
        await self.add_many([NewDeadLetter(topic, payload, reason, detail, received_at)])

    async def add_many(
        self, items: Iterable[NewDeadLetter | tuple[str, bytes, RefusalReason | str, str, float]]
    ) -> None:
        """Record refused messages in one transaction, then trim the table to `max_rows`."""
        rows = [NewDeadLetter(*item) for item in items]
        if not rows:
            return
        try:
            async with begin_write(self._engine) as conn:
                await self._insert(conn, rows)
        except SQLAlchemyError as e:
            raise DeadLetterError(f"cannot record dead letters: {e}") from e

    async def add_once(self, spool_id: str, numbered: Sequence[tuple[int, NewDeadLetter]]) -> int:
        """Record the refused messages a spool numbered (ids ascending) that are not stored yet, in one transaction
        with the spool's mark (the highest id stored), then trim. Returns how many were new. Calling it again with
        rows it stored before stores nothing, so a caller that cannot tell whether a call succeeded calls again."""
        if not numbered:
            return 0
        m = marks
        try:
            async with begin_write(self._engine) as conn:
                # FOR UPDATE (PostgreSQL): a concurrent mover of the same spool waits here instead of storing twice
                mark = (
                    await conn.execute(sa.select(m.c.stored_up_to).where(m.c.spool_id == spool_id).with_for_update())
                ).scalar_one_or_none()
                new = [row for row_id, row in numbered if mark is None or row_id > mark]
                last = numbered[-1][0]
                if mark is None:
                    await conn.execute(m.insert().values(spool_id=spool_id, stored_up_to=last))
                elif last > mark:
                    await conn.execute(m.update().where(m.c.spool_id == spool_id).values(stored_up_to=last))
                if new:
                    await self._insert(conn, new)
        except SQLAlchemyError as e:
            raise DeadLetterError(f"cannot record dead letters: {e}") from e
        return len(new)

    async def _insert(self, conn: AsyncConnection, rows: Sequence[NewDeadLetter]) -> None:
        t = dead_letters
        await conn.execute(
            t.insert(),
            [
                {
                    "topic": r.topic,
                    "payload": bytes(r.payload[: self.max_payload_bytes]),
                    "payload_size": len(r.payload) if r.payload_size is None else r.payload_size,
                    "reason": str(r.reason),
                    "detail": r.detail,
                    "received_at": float(r.received_at),
                }
                for r in rows
            ],
        )
        newest = (await conn.execute(sa.select(sa.func.max(t.c.id)))).scalar_one()
        await conn.execute(t.delete().where(t.c.id <= newest - self.max_rows))

    async def list(self, limit: int = 100, reason: RefusalReason | str | None = None) -> builtins.list[DeadLetter]:
        """Newest first."""
        t = dead_letters
        q = sa.select(t).order_by(t.c.id.desc()).limit(limit)
        if reason is not None:
            q = q.where(t.c.reason == str(reason))
        try:
            async with self._engine.connect() as conn:
                result = await conn.execute(q)
                rows = result.mappings().all()
        except SQLAlchemyError as e:
            raise DeadLetterError(f"cannot read dead letters: {e}") from e
        return [
            DeadLetter(
                id=int(r["id"]),
                topic=r["topic"],
                payload=bytes(r["payload"]),
                payload_text=_text(bytes(r["payload"])),
                payload_size=int(r["payload_size"]),
                reason=_reason(r["reason"]),
                detail=r["detail"],
                received_at=float(r["received_at"]),
            )
            for r in rows
        ]

    async def counts(self) -> dict[str, int]:
        """Rows kept per reason."""
        t = dead_letters
        q = sa.select(t.c.reason, sa.func.count()).group_by(t.c.reason)
        try:
            async with self._engine.connect() as conn:
                result = await conn.execute(q)
                return {str(reason): int(n) for reason, n in result.all()}
        except SQLAlchemyError as e:
            raise DeadLetterError(f"cannot count dead letters: {e}") from e

    async def clear(self) -> int:
        """Delete every dead letter (after the operator has looked); returns how many."""
        try:
            async with begin_write(self._engine) as conn:
                result = await conn.execute(dead_letters.delete())
                return int(result.rowcount)
        except SQLAlchemyError as e:
            raise DeadLetterError(f"cannot clear dead letters: {e}") from e
