"""The embedded MQTT broker (amqtt, in-process) used when no broker URL is configured.

It exists so `make demo` needs nothing installed; it speaks MQTT 3.1.1 only and keeps sessions in memory, so
production deployments point `mqtt.url` at Mosquitto (see docs/deployment.md)."""

from __future__ import annotations

import logging
from types import TracebackType

from cwatch.errors import ServiceError


class EmbeddedBroker:
    """`async with EmbeddedBroker(host, port):` runs an anonymous amqtt broker on host:port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 11883) -> None:
        self.host = host
        self.port = port
        self._broker: object | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    async def __aenter__(self) -> EmbeddedBroker:
        from amqtt.broker import Broker

        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        broker = Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
            }
        )
        quiet = logging.getLogger("amqtt")
        quiet.setLevel(logging.CRITICAL)  # a failed start is logged with a traceback; our error says it in a line
        try:
            await broker.start()
        except Exception as e:  # amqtt raises its own BrokerError or OSError for a taken port
            raise ServiceError(f"embedded MQTT broker could not listen on {self.host}:{self.port}: {e}") from e
        finally:
            quiet.setLevel(logging.WARNING)
        self._broker = broker
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()  # type: ignore[attr-defined]
