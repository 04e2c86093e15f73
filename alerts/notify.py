"""Notifications: a durable outbox and the channels that deliver it.

Every ticket change writes one outbox row per durable channel in the change's own transaction
(`TicketStore(channels=...)`), so nothing is lost between "ticket changed" and "someone was told". The
`OutboxDispatcher` delivers rows at least once: a row is leased before delivery (several processes may run a
dispatcher), retried with capped exponential backoff, kept in order per (channel, ticket), and marked failed
after `max_attempts` (visible in `stats()`). The delivery id is stable across retries, so receivers drop
duplicates by id. Webhook bodies are signed with HMAC-SHA256 over "<timestamp>.<body>".

Rows carry a `lane` (a notice's recipient, see `alerts.notices`): order is kept per (channel, ticket, lane), so
one person's provider being down holds back only that person's messages. A channel may answer `Deferred` (a
recipient's quiet hours): the row waits until then without counting an attempt. With an `OutcomeLog`, the outcome
of each attempt (sent, failed with the reason and the next try, given up) is written in the transaction that
records it.

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
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerts.errors import DeliveryError, UndeliverableError
from alerts.loops import sleep_or_stop
from alerts.outbound import OutboundGuard
from alerts.tables import outbox
from core.clock import Clock
from core.db import begin_write

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
    async def deliver(self, delivery: Delivery) -> Mapping[str, Any] | None:
        """Deliver or raise `DeliveryError` (any other exception counts as a failure too). May return details of
        what was done (the concrete channel, a masked address) for the `OutcomeLog`."""
        ...


class Deferred(Exception):  # noqa: N818 - not an error: a delivery that must wait
    """Raised by a channel for a delivery that must wait until `until` (quiet hours); no attempt is counted."""

    def __init__(self, until: float, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"deferred until {until}")
        self.until = until
        self.details = dict(details or {})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one delivery attempt."""

    status: str  # "sent" | "failed" | "gave_up" | "deferred"
    details: Mapping[str, Any]
    error: str | None = None
    next_attempt_at: float | None = None


class OutcomeLog(Protocol):
    async def record(self, conn: AsyncConnection, delivery: Delivery, outcome: Outcome, at: float) -> None:
        """Write the outcome inside the dispatcher's transaction (that marks the row delivered or failed)."""
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
        guard: OutboundGuard | None = None,
    ) -> None:
        if not secret:
            raise ValueError("a webhook needs a signing secret")
        self.url = url
        self.secret = secret
        self.clock = clock
        self.client = client or httpx.AsyncClient(timeout=timeout)
        self.guard = guard  # None: no address check (tests on loopback); the wiring always passes one

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
        if self.guard is not None:
            await self.guard.check(self.url)
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
        outcomes: OutcomeLog | None = None,
    ) -> None:
        self.engine = engine
        self.channels = dict(channels)
        self.outcomes = outcomes
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
                    earlier.c.lane == outbox.c.lane,
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
        seen: set[tuple[str, int, str]] = set()
        delivered = 0
        for row in rows:
            key = (row["channel"], row["ticket_id"], row["lane"])
            if key in seen:
                continue  # an earlier change of this ticket is still undelivered on this channel: keep order
            seen.add(key)
            if row["next_attempt_at"] > now or not await self._lease(row["id"], row["next_attempt_at"], now):
                continue
            delivery = Delivery(
                row["delivery_id"], row["channel"], row["ticket_id"], dict(row["payload"]), row["attempts"] + 1
            )
            try:
                details = await self.channels[row["channel"]].deliver(delivery)
            except Deferred as d:
                await self._deferred(row["id"], delivery, d)
                continue
            except Exception as e:  # every failure is retried; the error text is kept for operators
                more = e.details if isinstance(e, DeliveryError) else {}
                final = isinstance(e, UndeliverableError)
                await self._failed(row["id"], delivery, str(e) or type(e).__name__, more, final=final)
                continue
            await self._done(row["id"], delivery, details or {})
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

    async def _done(self, row_id: int, delivery: Delivery, details: Mapping[str, Any]) -> None:
        now = self.clock.now()
        async with begin_write(self.engine) as conn:
            await conn.execute(
                update(outbox).where(outbox.c.id == row_id).values(delivered_at=now, attempts=delivery.attempt)
            )
            if self.outcomes is not None:
                await self.outcomes.record(conn, delivery, Outcome("sent", details), now)

    async def _failed(
        self, row_id: int, delivery: Delivery, error: str, details: Mapping[str, Any], *, final: bool = False
    ) -> None:
        attempt = delivery.attempt
        dead = final or attempt >= self.backoff.max_attempts
        now = self.clock.now()
        next_at = now + self.backoff.delay(attempt, self.rng)
        async with begin_write(self.engine) as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(attempts=attempt, last_error=error[:1000], failed=dead, next_attempt_at=next_at)
            )
            if self.outcomes is not None:
                outcome = Outcome("gave_up" if dead else "failed", details, error[:500], None if dead else next_at)
                await self.outcomes.record(conn, delivery, outcome, now)
        if dead:
            log.error("notification %s failed for good after %d attempts: %s", row_id, attempt, error)

    async def _deferred(self, row_id: int, delivery: Delivery, d: Deferred) -> None:
        now = self.clock.now()
        async with begin_write(self.engine) as conn:
            await conn.execute(update(outbox).where(outbox.c.id == row_id).values(next_attempt_at=d.until))
            if self.outcomes is not None and delivery.attempt == 1:  # said once, not at every look
                await self.outcomes.record(conn, delivery, Outcome("deferred", d.details, None, d.until), now)

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
