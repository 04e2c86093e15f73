"""Ports checked before the service opens anything, so a port another program holds is one clear line naming
the setting that moves it, not a library's traceback after half the service has started."""

from __future__ import annotations

import errno
import socket

from cwatch.errors import ServiceError
from cwatch.settings import Settings


def port_in_use(host: str, port: int) -> bool:
    """True when binding `host:port` fails because someone holds it (port 0 is never in use)."""
    if port == 0:
        return False
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is no owner
        try:
            sock.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return True
            raise ServiceError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    return False


def check_ports(wanted: list[tuple[str, str, int, str]]) -> None:
    """Each of (what, host, port, setting) must be free; else stop naming the first taken one."""
    for what, host, port, setting in wanted:
        if port_in_use(host, port):
            env = "CWATCH_" + setting.upper().replace(".", "__")
            raise ServiceError(
                f"port {port} on {host} ({what}) is in use by another program; stop it, or choose another port "
                f"with {env}={port + 1} (setting {setting})"
            )


def service_ports(s: Settings) -> list[tuple[str, str, int, str]]:
    """What `cwatch serve` listens on: the board and API, and the embedded broker when no broker is set."""
    ports = [("the board and API", s.http.host, s.http.port, "http.port")]
    if not s.mqtt.url:
        ports.append(("the embedded MQTT broker", s.mqtt.embedded_host, s.mqtt.embedded_port, "mqtt.embedded_port"))
    return ports
