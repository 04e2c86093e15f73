"""The MQTT transport seam: `Transport` (what the service needs) and `GmqttTransport` (gmqtt 0.8, MQTT 5).

The contract is at-least-once: `run(handler)` calls `handler(message)` for every PUBLISH, synchronously and
in arrival order; the handler returns a future, and the message is acknowledged (PUBACK) only when that future
completes with a result. If it fails or is cancelled, or the connection drops first, no PUBACK is sent and the
broker redelivers the message on the next connection of the same session.

Why gmqtt (see docs/ingest.md): it parses many packets per socket read (about 5x paho's rate, 12x aiomqtt 2's
on this hardware). Its own deferred acknowledgement (`optimistic_acknowledgement=False`) creates one task per
PUBLISH and writes one PUBACK per task; at tens of thousands of messages a second those tasks and one `send`
syscall per PUBACK cost more than everything else together. So the QoS 1 path of gmqtt's packet handler is
replaced (`_Client._on_publish` / `_on_qos1`, the one place that touches gmqtt internals): no task, one
done-callback per distinct future (the service's committer gives all messages of a batch the same future), and
the PUBACKs of a batch written in one `write`, in arrival order. Futures complete in batch order, so PUBACKs go
out in arrival order (MQTT-4.6.0-2).

Sessions: a fixed client id, clean start off and a session-expiry interval, so messages published while the
ingester is down wait in the broker. gmqtt's own reconnect (fixed delay, same client object) is switched off:
every connection gets a fresh gmqtt client, so a PUBACK left over from a dead connection can never be written
onto the next one, and reconnects use capped exponential backoff with full jitter.

Retained messages: devices must not retain (docs/device-protocol.md). In MQTT 5 the subscriptions ask for
retain-as-published, so a retained message keeps its flag on live delivery too (a broker otherwise clears it) and
the decoder refuses it. Once the handler's future for it completes (its dead letter is stored), the transport
clears the stale copy on the broker with an empty retained message, so it is not replayed to every new
subscriber. Such an empty retained message (this deletion, or an operator's) carries no reading: it is
acknowledged with the messages before it and not handed on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Protocol

from gmqtt import Client as _GmqttClient
from gmqtt import Subscription
from gmqtt.mqtt.constants import MQTTv50, MQTTv311

from devices.topics import PREFIX, SUBSCRIPTION
from ingest.backoff import backoff_delay
from ingest.errors import TransportError

log = logging.getLogger(__name__)
_NAMES = {MQTTv50: "5", MQTTv311: "3.1.1"}
# Every topic under the protocol's prefix: its four levels, and the filters for fewer or more levels, so that a
# message on a topic of the wrong depth arrives and is refused (bad_topic) instead of never reaching cwatch. The
# filters do not overlap, so no message is delivered twice. Topics outside the prefix, `$`-topics included (no
# wildcard matches them), are not cwatch's: the broker's ACL keeps devices off them.
SUBSCRIPTIONS = (SUBSCRIPTION, PREFIX, f"{PREFIX}/+", f"{PREFIX}/+/+", f"{PREFIX}/+/+/+/+/#")
logging.getLogger("gmqtt").setLevel(logging.ERROR)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One PUBLISH as received. `received_at` is the service clock's time at arrival."""

    topic: str
    payload: bytes
    retain: bool
    received_at: float
    dup: bool = False


MessageHandler = Callable[[InboundMessage], "asyncio.Future[None]"]


class Transport(Protocol):
    """What the ingester needs from an MQTT client library."""

    async def run(self, handler: MessageHandler) -> None:
        """Connect, subscribe and deliver messages to `handler` until cancelled, reconnecting as needed.
        A message is acknowledged only after the future `handler` returned for it has a result."""
        ...

    @property
    def connected(self) -> bool:
        """True while a connection to the broker is up (for /readyz)."""
        ...


@dataclass(frozen=True, slots=True)
class MqttOptions:
    """Where and how to connect. `protocol="auto"` tries MQTT 5 and falls back to 3.1.1 for brokers without
    it (the embedded amqtt broker of the demo); only MQTT 5 gives retain-handling on resubscribe."""

    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "cwatch-ingest"
    username: str | None = None
    password: str | None = None
    topics: tuple[str, ...] = SUBSCRIPTIONS
    shared_group: str = ""
    session_expiry_s: int = 7 * 86_400
    keepalive_s: int = 30
    receive_maximum: int = 32_768
    protocol: Literal["auto", "5", "3.1.1"] = "auto"
    connect_timeout_s: float = 10.0
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 30.0
    clear_retained: bool = True  # delete a retained message from the broker once it has been handled (refused)

    def filters(self) -> list[str]:
        if self.shared_group:
            return [f"$share/{self.shared_group}/{t}" for t in self.topics]
        return list(self.topics)


def _puback(mid: int) -> bytes:
    """PUBACK, success: fixed header and packet id only (MQTT 5 allows omitting reason code 0, 3.1.1 has none)."""
    return b"\x40\x02" + mid.to_bytes(2, "big")


class _Client(_GmqttClient):  # type: ignore[misc]
    """A gmqtt client that never reconnects by itself (`GmqttTransport` owns reconnection) and acknowledges
    QoS 1 messages in batches when the handler's future completes."""

    def __init__(
        self,
        client_id: str,
        handler: MessageHandler,
        now: Callable[[], float],
        *,
        v5: bool,
        clear_retained: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(client_id, **kwargs)
        self._deliver = handler
        self._now = now
        self._v5 = v5
        self._clear_retained = clear_retained
        self._waiting: dict[asyncio.Future[None], list[int]] = {}  # packet ids waiting for their future
        self.reconnect_requested = asyncio.Event()
        self.refused_v5 = False
        # gmqtt looks these up per packet type (see the module docstring)
        package_handler = self._package_handler
        self._gmqtt_publish = package_handler._handle_publish_packet
        package_handler._handle_publish_packet = self._on_publish
        package_handler._handle_qos_1_publish_packet = self._on_qos1

    async def reconnect(self, delay: bool = False) -> None:
        # gmqtt asks for this after a lost connection, a refused CONNACK, or a broker that refused MQTT 5 (then
        # it has already switched its protocol state to 3.1.1); the transport decides what to do
        self.refused_v5 = self._connection_state.protocol_version == MQTTv311
        self.reconnect_requested.set()

    def _on_publish(self, cmd: int, raw: bytes) -> None:
        """A QoS 1 PUBLISH without properties — what Mosquitto sends — parsed with a few slices (half of
        gmqtt's per-message cost); anything else (QoS 0, properties, topic aliases) goes to gmqtt's parser."""
        if cmd & 0x06 != 0x02:
            return self._gmqtt_publish(cmd, raw)  # type: ignore[no-any-return]
        n = (raw[0] << 8) | raw[1]
        pos = 2 + n
        mid = (raw[pos] << 8) | raw[pos + 1]
        pos += 2
        if self._v5:
            if raw[pos] != 0:
                return self._gmqtt_publish(cmd, raw)  # type: ignore[no-any-return]
            pos += 1
        try:
            topic = raw[2 : 2 + n].decode()
        except UnicodeDecodeError:
            return self._gmqtt_publish(cmd, raw)  # type: ignore[no-any-return]
        if not topic:
            return self._gmqtt_publish(cmd, raw)  # type: ignore[no-any-return]
        self._receive(mid, bytes(raw[pos:]), topic, bool(cmd & 0x01), bool(cmd & 0x08))
        return None

    def _on_qos1(self, mid: int, payload: bytes, topic: str, properties: dict[str, Any]) -> None:
        """gmqtt's QoS 1 hook, for the PUBLISH packets `_on_publish` leaves to gmqtt's parser."""
        self._receive(mid, payload, topic, bool(properties.get("retain")), bool(properties.get("dup")))

    def _receive(self, mid: int, payload: bytes, topic: str, retain: bool, dup: bool) -> None:
        if retain and not payload:
            self._skip(mid, topic)
            return
        fut = self._deliver(InboundMessage(topic, payload, retain, self._now(), dup))
        mids = self._waiting.get(fut)
        if mids is None:  # the first message of a batch (the committer gives one future per batch)
            mids = self._waiting[fut] = []
            fut.add_done_callback(partial(self._acknowledge, self._package_handler.current_connection))
        mids.append(mid)
        if retain and self._clear_retained:
            fut.add_done_callback(partial(self._clear, self._package_handler.current_connection, topic))

    def _skip(self, mid: int, topic: str) -> None:
        """An empty retained message deletes a retained message (MQTT-3.3.1-6): no reading, nothing to store.
        Acknowledged with the latest pending batch, so that PUBACKs keep arrival order, or at once if none is."""
        log.debug("skipped the deletion of a retained message on %s", topic)
        if self._waiting:
            self._waiting[next(reversed(self._waiting))].append(mid)
            return
        connection = self._package_handler.current_connection
        if connection is not None and not connection.is_closing():
            connection.send_package(_puback(mid))

    def _clear(self, connection: Any, topic: str, fut: asyncio.Future[None]) -> None:
        """After a retained message was handled (refused and dead-lettered), delete it from the broker: an empty
        retained message at QoS 0. If that is lost, the copy comes back on the next new subscription and is
        refused and cleared again."""
        if fut.cancelled() or fut.exception() is not None:
            return
        if connection is self._package_handler.current_connection and not connection.is_closing():
            self.publish(topic, b"", qos=0, retain=True)
            log.info("asked the broker to delete the retained message on %s (devices must not retain)", topic)

    def _acknowledge(self, connection: Any, fut: asyncio.Future[None]) -> None:
        mids = self._waiting.pop(fut, [])
        if fut.cancelled() or fut.exception() is not None:
            return  # not stored: no PUBACK, the broker redelivers on the next connection
        # a PUBACK meant for a dead connection is dropped: its messages come again on the new one
        if connection is self._package_handler.current_connection and not connection.is_closing():
            connection.send_package(b"".join([_puback(mid) for mid in mids]))


class GmqttTransport:
    """`Transport` over gmqtt. `now` stamps `received_at`; `on_connect`/`on_disconnect` feed metrics."""

    def __init__(
        self,
        options: MqttOptions,
        *,
        now: Callable[[], float] = time.time,
        on_connect: Callable[[bool], None] | None = None,
        on_disconnect: Callable[[], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.options = options
        self._now = now
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._connected = False
        self._version = MQTTv311 if options.protocol == "3.1.1" else MQTTv50
        self.connections = 0  # successful connections so far

    @property
    def connected(self) -> bool:
        return self._connected

    async def run(self, handler: MessageHandler) -> None:
        failures = 0
        while True:
            lost = asyncio.Event()
            client = self._client(handler, lost)
            try:
                session_present = await self._connect(client, lost)
            except TransportError as exc:
                delay = backoff_delay(
                    failures, initial=self.options.backoff_initial_s, cap=self.options.backoff_max_s, rng=self._rng
                )
                failures += 1
                log.warning("MQTT connect to %s:%s failed (%s); retrying in %.2fs", *self._addr(), exc, delay)
                await self._close(client)
                await self._sleep(delay)
                continue
            failures = 0
            self.connections += 1
            self._connected = True
            log.info(
                "connected to the MQTT broker %s:%s as %s (MQTT %s, %s)",
                *self._addr(),
                self.options.client_id,
                _NAMES[self._version],
                "session resumed" if session_present else "new session",
            )
            if self._on_connect is not None:
                self._on_connect(session_present)
            try:
                self._subscribe(client, session_present)
                await lost.wait()
                log.warning("MQTT connection to %s:%s lost", *self._addr())
            finally:
                self._connected = False
                if self._on_disconnect is not None:
                    self._on_disconnect()
                await self._close(client)
            await self._sleep(backoff_delay(0, initial=self.options.backoff_initial_s, rng=self._rng))

    # --- internals ----------------------------------------------------------------------------------------

    def _addr(self) -> tuple[str, int]:
        return self.options.host, self.options.port

    def _client(self, handler: MessageHandler, lost: asyncio.Event) -> _Client:
        o = self.options
        kwargs: dict[str, Any] = {}
        if self._version == MQTTv50:
            kwargs = {"session_expiry_interval": o.session_expiry_s, "receive_maximum": o.receive_maximum}
        client = _Client(
            o.client_id,
            handler,
            self._now,
            v5=self._version == MQTTv50,
            clear_retained=o.clear_retained,
            clean_session=False,
            optimistic_acknowledgement=False,
            **kwargs,
        )
        if o.username:
            client.set_auth_credentials(o.username, o.password)
        now = self._now

        def on_message(_c: object, topic: str, payload: bytes, _qos: int, properties: dict[str, Any]) -> int:
            # QoS 0 only (QoS 1 takes `_Client._on_qos1`; subscriptions are QoS 1, so never QoS 2)
            retain = bool(properties.get("retain"))
            if retain and not payload:
                return 0  # the deletion of a retained message (see `_Client._skip`); QoS 0 needs no PUBACK
            handler(InboundMessage(topic, payload, retain, now(), False))
            return 0

        def on_disconnect(*_args: object, **_kw: object) -> None:
            lost.set()

        client.on_message = on_message
        client.on_disconnect = on_disconnect
        return client

    async def _connect(self, client: _Client, lost: asyncio.Event) -> bool:
        """Connect and wait for CONNACK; return the session-present flag. Raises TransportError."""
        o = self.options
        present: list[bool] = []

        def on_connect(_c: object, flags: int, _rc: int, _props: object) -> None:
            present.append(bool(flags))

        client.on_connect = on_connect
        attempt = asyncio.ensure_future(client.connect(o.host, o.port, keepalive=o.keepalive_s, version=self._version))
        dropped = asyncio.ensure_future(lost.wait())
        refused = asyncio.ensure_future(client.reconnect_requested.wait())
        try:
            done, _ = await asyncio.wait(
                {attempt, dropped, refused}, timeout=o.connect_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for f in (attempt, dropped, refused):
                if not f.done():
                    f.cancel()
        if attempt in done:
            try:
                attempt.result()
            except (TimeoutError, OSError) as exc:
                raise TransportError(f"cannot reach the broker: {exc}") from exc
            except Exception as exc:  # gmqtt's MQTTConnectError (CONNACK refused) and friends
                raise TransportError(f"the broker refused the connection: {exc}") from exc
            if lost.is_set():
                raise TransportError("connection closed right after CONNACK")
            return present[0] if present else False
        if o.protocol == "auto":
            # no CONNACK: a 3.1.1-only broker refuses MQTT 5 (code 1), closes, or (amqtt) waits for bytes that
            # never come; try the other version next time, until one of them answers
            self._version = MQTTv311 if self._version == MQTTv50 else MQTTv50
            log.warning("no CONNACK from %s:%s; trying MQTT %s", o.host, o.port, _NAMES[self._version])
        if client.refused_v5:
            raise TransportError("the broker refused MQTT 5")
        raise TransportError("no CONNACK" if not done else "connection closed before CONNACK")

    def _subscribe(self, client: _Client, session_present: bool) -> None:
        if self._version == MQTTv50:
            # retain handling 1: retained messages only for a new subscription, so resubscribing is harmless;
            # retain-as-published: the retain flag survives live delivery, so a retained message is recognised
            subs = [
                Subscription(t, qos=1, retain_as_published=True, retain_handling_options=1)
                for t in self.options.filters()
            ]
        elif session_present:
            return  # 3.1.1 has no retain handling: resubscribing would replay every retained message
        else:
            subs = [Subscription(t, qos=1) for t in self.options.filters()]
        client.subscribe(subs)

    async def _close(self, client: _Client) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), timeout=5)


def options_from_url(url: str, **overrides: Any) -> MqttOptions:
    """`MqttOptions` from `mqtt://user:pass@host:port` plus keyword overrides."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise TransportError(f"{url!r} is not mqtt://[user:pass@]host[:port]")
    base: dict[str, Any] = {"host": parts.hostname, "port": parts.port or 1883}
    if parts.username:
        base["username"] = unquote(parts.username)
        base["password"] = unquote(parts.password) if parts.password else None
    return MqttOptions(**{**base, **overrides})


__all__: Sequence[str] = ["GmqttTransport", "InboundMessage", "MessageHandler", "MqttOptions", "Transport"]
