"""Notifications: a durable outbox and the channels that deliver it.

Every ticket change writes one outbox row per durable channel in the change's own transaction
(`TicketStore(channels=...)`), so nothing is lost between "ticket changed" and "someone was told". The
`OutboxDispatcher` delivers rows at least once: a row is leased before delivery (several processes may run a
dispatcher), retried with capped exponential backoff, kept in order per (channel, ticket), and marked failed
after `max_attempts` (visible in `stats()`). The delivery id is stable across retries, so receivers drop
duplicates by id. Webhook bodies are signed with HMAC-SHA256 over "<timestamp>.<body>".

The live board is not an outbox channel: it is fed in-process by `alerts.stream.ChangeHub` (lossy by design;
a lagging board is told to resync)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.errors import DeliveryError
from alerts.loops import sleep_or_stop
from alerts.tables import outbox
from cwatch.clock import Clock
from cwatch.db import begin_write

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Cwatch-Signature"
DELIVERY_HEADER = "X-Cwatch-Delivery"
TIMESTAMP_HEADER = "X-Cwatch-Timestamp"


@dataclass(frozen=True, slots=True)
class Delivery:
    delivery_id: str
    channel: str
    ticket_id: int
    payload: dict[str, Any]
    attempt: int  # 1 for the first try


class Channel(Protocol):
    async def deliver(self, delivery: Delivery) -> None:
        """Deliver or raise `DeliveryError` (any other exception counts as a failure too)."""
        ...


class LogChannel:
    """Writes one log line per change: the channel of last resort, and handy in development."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("cwatch.notify")

    async def deliver(self, delivery: Delivery) -> None:
        ticket = delivery.payload.get("ticket", {})
        event = delivery.payload.get("event", {})
        to = ", ".join(
            f"{r.get('name') or r.get('id')} {r.get('phone', '')}".strip()
            for r in delivery.payload.get("recipients", [])
        )
        self.logger.info(
            "ticket %s [%s] %s: %s by %s -> %s%s",
            delivery.ticket_id,
            ticket.get("severity"),
            ticket.get("title"),
            event.get("action"),
            event.get("actor"),
            ticket.get("status"),
            f" (notify {to})" if to else "",
        )


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """For receivers: check `X-Cwatch-Signature` against the raw body and `X-Cwatch-Timestamp`."""
    return hmac.compare_digest(sign(secret, timestamp, body), header)


class WebhookChannel:
    """POSTs the change as JSON. 2xx is success; anything else (or a network error) is retried."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        clock: Clock,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not secret:
            raise ValueError("a webhook needs a signing secret")
        self.url = url
        self.secret = secret
        self.clock = clock
        self.client = client or httpx.AsyncClient(timeout=timeout)

    async def deliver(self, delivery: Delivery) -> None:
        body = json.dumps(
            {"delivery_id": delivery.delivery_id, **delivery.payload}, ensure_ascii=False, separators=(",", ":")
        ).encode()
        ts = str(int(self.clock.now()))
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: delivery.delivery_id,
            TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: sign(self.secret, ts, body),
            "X-Cwatch-Attempt": str(delivery.attempt),
        }
        try:
            r = await self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as e:
            raise DeliveryError(f"webhook {self.url}: {type(e).__name__}: {e}") from e
        if not 200 <= r.status_code < 300:
            raise DeliveryError(f"webhook {self.url} answered {r.status_code}")


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float = 5.0
    factor: float = 2.0
    cap: float = 600.0
    jitter: float = 0.1  # ± fraction, so many failed deliveries do not retry in lockstep
    max_attempts: int = 12  # about an hour of retries with the defaults

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        d = min(self.cap, self.base * self.factor ** max(0, attempt - 1))
        if rng is not None and self.jitter:
            d *= 1 + rng.uniform(-self.jitter, self.jitter)
        return d


class OutboxDispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        channels: Mapping[str, Channel],
        clock: Clock,
        *,
        backoff: Backoff | None = None,
        lease_s: float = 60.0,
        batch: int = 200,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.channels = dict(channels)
        self.clock = clock
        self.backoff = backoff or Backoff()
        self.lease_s = lease_s
        self.batch = batch
        self.rng = rng
        self._stop = asyncio.Event()

    async def stop(self) -> None:
        """Ask `run()` to return after the current round."""
        self._stop.set()

    async def run_once(self) -> int:
        """Deliver what is due; returns how many deliveries succeeded."""
        now = self.clock.now()
        earlier = outbox.alias("earlier")
        # the due heads of each (channel, ticket) queue: rows backing off must not fill the batch and starve new
        # ones (a webhook down for an hour holds hundreds), and no change overtakes an earlier one of its ticket
        q = (
            select(outbox)
            .where(
                outbox.c.delivered_at.is_(None),
                ~outbox.c.failed,
                outbox.c.channel.in_(list(self.channels)),
                outbox.c.next_attempt_at <= now,
                ~exists().where(
                    earlier.c.channel == outbox.c.channel,
                    earlier.c.ticket_id == outbox.c.ticket_id,
                    earlier.c.id < outbox.c.id,
                    earlier.c.delivered_at.is_(None),
                    ~earlier.c.failed,
                ),
            )
            .order_by(outbox.c.id)
            .limit(self.batch)
        )
        async with self.engine.connect() as conn:
            rows = [r._mapping for r in await conn.execute(q)]
        seen: set[tuple[str, int]] = set()
        delivered = 0
        for row in rows:
            key = (row["channel"], row["ticket_id"])
            if key in seen:
                continue  # an earlier change of this ticket is still undelivered on this channel: keep order
            seen.add(key)
            if row["next_attempt_at"] > now or not await self._lease(row["id"], row["next_attempt_at"], now):
                continue
            delivery = Delivery(
                row["delivery_id"], row["channel"], row["ticket_id"], dict(row["payload"]), row["attempts"] + 1
            )
            try:
                await self.channels[row["channel"]].deliver(delivery)
            except Exception as e:  # every failure is retried; the error text is kept for operators
                await self._failed(row["id"], delivery.attempt, str(e) or type(e).__name__)
                continue
            await self._done(row["id"], delivery.attempt)
            delivered += 1
        return delivered

    async def _lease(self, row_id: int, seen_next: float, now: float) -> bool:
        async with begin_write(self.engine) as conn:
            res = await conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id, outbox.c.next_attempt_at == seen_next, outbox.c.delivered_at.is_(None))
                .values(next_attempt_at=now + self.lease_s)
            )
            return res.rowcount == 1

    async def _done(self, row_id: int, attempt: int) -> None:
        async with begin_write(self.engine) as conn:
            await conn.execute(
                update(outbox).where(outbox.c.id == row_id).values(delivered_at=self.clock.now(), attempts=attempt)
            )

    async def _failed(self, row_id: int, attempt: int, error: str) -> None:
        dead = attempt >= self.backoff.max_attempts
        next_at = self.clock.now() + self.backoff.delay(attempt, self.rng)
        async with begin_write(self.engine) as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(attempts=attempt, last_error=error[:1000], failed=dead, next_attempt_at=next_at)
            )
        if dead:
            log.error("notification %s failed for good after %d attempts: %s", row_id, attempt, error)

    async def stats(self) -> dict[str, int]:
        """Pending, delivered and failed deliveries (for /metrics and the operator)."""
        async with self.engine.connect() as conn:
            pending = (
                await conn.execute(select(func.count()).where(outbox.c.delivered_at.is_(None), ~outbox.c.failed))
            ).scalar_one()
            delivered = (
                await conn.execute(select(func.count()).where(outbox.c.delivered_at.is_not(None)))
            ).scalar_one()
            failed = (await conn.execute(select(func.count()).where(outbox.c.failed))).scalar_one()
        return {"pending": pending, "delivered": delivered, "failed": failed}

    async def run(self, interval: float = 2.0) -> None:
        """Deliver until cancelled; a database hiccup only delays delivery."""
        while not self._stop.is_set():
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except (SQLAlchemyError, OSError):
                log.exception("outbox dispatch failed; retrying")
            await sleep_or_stop(self.clock, interval, self._stop)
