"""Recording a live MQTT stream (subscribe `cw/#`) to JSON Lines, in arrival order, with arrival times."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulator.errors import PublishError
from simulator.message import SimMessage
from simulator.recording import to_line


class Recorder:
    """Subscribes and appends every message to a file; `wait(count, timeout)` for tests and the CLI."""

    def __init__(
        self,
        path: str,
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        topic: str = "cw/#",
        client_id: str = "cwatch-sim-rec",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.path, self.host, self.port, self.topic = path, host, port, topic
        self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self._cond = threading.Condition()
        self._count = 0
        self._subscribed = False
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    @property
    def count(self) -> int:
        with self._cond:
            return self._count

    def start(self, timeout: float = 10.0) -> None:
        try:
            self._client.connect(self.host, self.port, keepalive=60)
        except OSError as e:
            self._file.close()
            raise PublishError(f"cannot connect to MQTT broker {self.host}:{self.port}: {e}") from None
        self._client.loop_start()
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._subscribed:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.stop()
                    raise PublishError(f"no SUBACK from {self.host}:{self.port}")
                self._cond.wait(left)

    def stop(self) -> int:
        self._client.disconnect()
        self._client.loop_stop()
        with self._cond:
            if not self._file.closed:
                self._file.close()
            return self._count

    def wait(self, count: int | None, timeout: float | None) -> int:
        """Block until `count` messages arrived or `timeout` seconds passed; returns the count."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while count is None or self._count < count:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            return self._count

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if not rc.is_failure:
            client.subscribe(self.topic, qos=1)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, rcs: Any, props: Any) -> None:
        with self._cond:
            self._subscribed = True
            self._cond.notify_all()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        line = to_line(SimMessage(round(time.time(), 6), msg.topic, bytes(msg.payload)))
        with self._cond:
            if self._file.closed:
                return
            self._file.write(line + "\n")
            self._count += 1
            self._cond.notify_all()


def record(
    path: str,
    *,
    host: str = "127.0.0.1",
    port: int = 1883,
    topic: str = "cw/#",
    duration: float | None = None,
    count: int | None = None,
    username: str | None = None,
    password: str | None = None,
    client_id: str = "cwatch-sim-rec",
) -> int:
    """Record until `duration` seconds passed or `count` messages arrived (or Ctrl-C); returns the count."""
    rec = Recorder(path, host=host, port=port, topic=topic, client_id=client_id, username=username, password=password)
    rec.start()
    with contextlib.suppress(KeyboardInterrupt):
        rec.wait(count, duration)
    return rec.stop()
