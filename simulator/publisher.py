"""Publishing over real MQTT with paho-mqtt 2.x (MQTT 5, QoS 1 by default), counting what was published and
what the broker acknowledged (PUBACK). Either gateway style (one connection for every device) or N
connections, each device always on the same connection so its messages stay in order. A bounded window of
unacknowledged messages gives back-pressure instead of an unbounded queue in paho."""

from __future__ import annotations

import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from simulator.errors import PublishError


@dataclass(frozen=True, slots=True)
class PublishStats:
    published: int
    acknowledged: int
    refused: int  # PUBACK with an error reason code
    connections: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.acknowledged / self.seconds if self.seconds > 0 else 0.0


class Publisher:
    """`with Publisher(host, port) as p: p.publish(topic, payload)`; `p.flush()` waits for every PUBACK."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        connections: int = 1,
        qos: int = 1,
        client_id: str = "cwatch-sim",
        username: str | None = None,
        password: str | None = None,
        window: int = 2000,
        connect_timeout: float = 10.0,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
    ) -> None:
        if connections < 1:
            raise ValueError("connections must be >= 1")
        self.host, self.port, self.qos = host, port, qos
        self._n = connections
        self._client_id = client_id
        self._auth = (username, password)
        self._window = max(1, window)
        self._timeout = connect_timeout
        self._protocol = protocol  # mqtt.MQTTv311 for brokers without MQTT 5 (the embedded amqtt broker)
        self._clients: list[mqtt.Client] = []
        self._cond = threading.Condition()
        self._published = 0
        self._acked = 0
        self._refused = 0
        self._connected = 0
        self._connect_error: str | None = None
        self._t0 = 0.0

    # --- lifecycle ------------------------------------------------------------------------------------------

    def __enter__(self) -> Publisher:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        for i in range(self._n):
            cid = self._client_id if self._n == 1 else f"{self._client_id}-{i}"
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=self._protocol)
            if self._auth[0] is not None:
                c.username_pw_set(self._auth[0], self._auth[1])
            c.max_inflight_messages_set(max(20, self._window // self._n))
            c.max_queued_messages_set(0)
            c.on_connect = self._on_connect
            c.on_publish = self._on_publish
            try:
                c.connect(self.host, self.port, keepalive=60)
            except OSError as e:
                self.close()
                raise PublishError(f"cannot connect to MQTT broker {self.host}:{self.port}: {e}") from None
            c.loop_start()
            self._clients.append(c)
        deadline = time.monotonic() + self._timeout
        with self._cond:
            while self._connected < self._n and self._connect_error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            error = self._connect_error
            ok = self._connected >= self._n
        if error or not ok:
            self.close()
            raise PublishError(f"MQTT broker {self.host}:{self.port} refused or timed out: {error or 'timeout'}")
        self._t0 = time.monotonic()

    def close(self) -> None:
        for c in self._clients:
            try:
                c.disconnect()
            finally:
                c.loop_stop()
        self._clients.clear()

    # --- callbacks (paho network threads) -------------------------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: ReasonCode, props: Properties | None) -> None:
        with self._cond:
            if rc.is_failure:
                self._connect_error = str(rc)
            else:
                self._connected += 1
            self._cond.notify_all()

    def _on_publish(self, client: Any, userdata: Any, mid: int, rc: ReasonCode, props: Properties | None) -> None:
        with self._cond:
            self._acked += 1
            if rc.is_failure:
                self._refused += 1
            self._cond.notify_all()

    # --- publishing -----------------------------------------------------------------------------------------

    def _client_for(self, key: str) -> mqtt.Client:
        return self._clients[0] if self._n == 1 else self._clients[zlib.crc32(key.encode()) % self._n]

    def publish(self, topic: str, payload: bytes, key: str | None = None) -> None:
        """Publish one message (blocks while the window of unacknowledged messages is full). `key` picks the
        connection (default: the topic, so one device always uses one connection)."""
        if not self._clients:
            raise PublishError("publisher is not connected")
        with self._cond:
            while self._published - self._acked >= self._window:
                if not self._cond.wait(self._timeout * 3):
                    raise PublishError(f"no PUBACK for {self._timeout * 3:.0f} s; broker stalled")
            self._published += 1
        info = self._client_for(key or topic).publish(topic, payload, qos=self.qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise PublishError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until every published message is acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._acked < self._published:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stats(self) -> PublishStats:
        with self._cond:
            return PublishStats(
                self._published, self._acked, self._refused, self._n, max(0.0, time.monotonic() - self._t0)
            )
