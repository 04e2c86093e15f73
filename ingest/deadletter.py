"""Dead letters: refused messages kept with their reason, so an operator can see what a broken device sends.

They live in the relational store (SQLite or PostgreSQL), so they survive restarts, and the table is bounded:
beyond `max_rows` the oldest rows are deleted in the same transaction as the insert, so a device spamming junk
cannot fill the disk. Payloads are stored up to `max_payload_bytes` (the original size is kept).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from cwatch.db import begin_write
from ingest.errors import IngestError
from ingest.refusals import RefusalReason

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

PAYLOAD_TEXT_MAX = 2000


class DeadLetterError(IngestError):
    """The dead-letter table could not be read or written."""


class NewDeadLetter(NamedTuple):
    """One refused message to record (a plain 5-tuple works too)."""

    topic: str
    payload: bytes
    reason: RefusalReason | str
    detail: str
    received_at: float


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
        rows = [
            {
                "topic": topic,
                "payload": bytes(payload[: self.max_payload_bytes]),
                "payload_size": len(payload),
                "reason": str(reason),
                "detail": detail,
                "received_at": float(received_at),
            }
            for topic, payload, reason, detail, received_at in items
        ]
        if not rows:
            return
        t = dead_letters
        try:
            async with begin_write(self._engine) as conn:
                await conn.execute(t.insert(), rows)
                newest = (await conn.execute(sa.select(sa.func.max(t.c.id)))).scalar_one()
                await conn.execute(t.delete().where(t.c.id <= newest - self.max_rows))
        except SQLAlchemyError as e:
            raise DeadLetterError(f"cannot record dead letters: {e}") from e

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
