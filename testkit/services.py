"""Fixtures that start real Mosquitto and influxd processes on free ports (owned by the ingest work).

Each process gets its own temp dir and generated config, so tests never touch the system broker on 1883 or a
system InfluxDB. Readiness is detected by polling with a deadline, never by sleeping a fixed time.

Use from tests::

    def test_x(mosquitto: MosquittoProcess, influxd: InfluxProcess) -> None:
        mosquitto.port, influxd.url, influxd.query("db", "SELECT count(*) FROM m")
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from testkit.require import unavailable

MOSQUITTO_BIN = os.environ.get("CWATCH_MOSQUITTO", "/usr/sbin/mosquitto")
INFLUXD_BIN = os.environ.get("CWATCH_INFLUXD", "/usr/bin/influxd")


_EPHEMERAL = (32768, 60999)  # Linux's default ip_local_port_range


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return _EPHEMERAL


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing is bound to right now, outside the ephemeral range.

    A port from `bind(0)` lies in the range the kernel draws the source ports of outgoing connections from:
    a server stopped and restarted on it by a test (influxd, Mosquitto) could find it taken by a client's
    connection meanwhile ("address already in use"). Below that range only listeners take ports."""
    lo, hi = _ephemeral_range()
    candidates = [p for p in range(20000, 32768) if not lo <= p <= hi] or list(range(1024, lo))
    for port in random.sample(candidates, min(200, len(candidates))):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # a crowded machine: any free port
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        try:
            s.connect((host, port))
        except OSError:
            return False
        return True


def wait_until(predicate: Any, *, timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll `predicate()` until it is truthy; raise TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def ensure_binary(path: str, apt_package: str) -> None:
    """Install `apt_package` when `path` is missing and we are root; otherwise skip the test."""
    if Path(path).exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        unavailable(f"{path} is missing; install the Debian package {apt_package!r}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", apt_package], env=env, capture_output=True, check=False
    )
    if result.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", apt_package], env=env, check=False)
    if not Path(path).exists():
        unavailable(f"{path} is missing and `apt-get install {apt_package}` did not provide it")


def retained_message(port: int, topic: str, *, auth: tuple[str, str] | None = None) -> bytes | None:
    """The retained message a broker on 127.0.0.1:`port` holds for `topic`, if any. A new subscriber gets it
    before a live probe published after the subscription, so this waits for the probe, never for silence
    (`auth`: a user allowed to read and write `topic`)."""
    got: list[bytes] = []
    subscribed: list[bool] = []
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"look-{time.monotonic_ns()}")
    if auth is not None:
        c.username_pw_set(*auth)
    c.on_message = lambda _c, _u, m: got.append(bytes(m.payload))
    c.on_subscribe = lambda *_a: subscribed.append(True)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        c.subscribe(topic, qos=1)
        wait_until(lambda: subscribed, timeout=20, what=f"SUBACK for {topic}")
        c.publish(topic, b"probe", qos=1).wait_for_publish(10)
        wait_until(lambda: b"probe" in got, timeout=20, what=f"the probe on {topic}")
    finally:
        c.disconnect()
        c.loop_stop()
    before = got[: got.index(b"probe")]
    return before[0] if before else None


class _Process:
    """A child process with a temp dir, a log file and start/stop/kill/restart; subclasses say how to start."""

    name = "process"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(self._command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        finally:
            log.close()

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; log:\n{self.log_tail()}")
            return self._ready()

        wait_until(ready, timeout=timeout, what=f"{self.name} to accept connections")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Send `sig` and wait for the process to exit (SIGKILL after `timeout`)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class MosquittoProcess(_Process):
    """Mosquitto on a free 127.0.0.1 port with persistence in its own dir and unbounded queues, so a
    persistent session keeps every QoS 1 message while its client is away."""

    name = "mosquitto"

    def __init__(self, workdir: Path, port: int | None = None, extra_config: str = "", config: str = "") -> None:
        """`config`, when given, is the whole configuration (listening on `port`), instead of the test one."""
        super().__init__(workdir)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.config_path = workdir / "mosquitto.conf"
        persistence = workdir / "persist"
        persistence.mkdir(exist_ok=True)
        if config:
            self.config_path.write_text(config)
            return
        self.config_path.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            # as root Mosquitto would drop to user `mosquitto`, who cannot write the temp dir
            "user root\n"
            "persistence true\n"
            f"persistence_location {persistence}/\n"
            "autosave_interval 5\n"
            "max_queued_messages 0\n"
            "max_queued_bytes 0\n"
            "max_inflight_messages 0\n"
            "max_keepalive 65535\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            f"{extra_config}"
        )

    def _command(self) -> list[str]:
        return [MOSQUITTO_BIN, "-c", str(self.config_path)]

    def _ready(self) -> bool:
        return port_open(self.port, self.host)

    def reload(self) -> None:
        """SIGHUP: Mosquitto reads its password file and ACL again (what `systemctl reload mosquitto` does)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)


class InfluxProcess(_Process):
    """influxd 1.6.7 with temp meta/data/wal dirs, free ports and fsync on every WAL write."""

    name = "influxd"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.http_port = free_port()
        self.bind_port = free_port()
        while self.bind_port == self.http_port:  # nothing holds the first port yet: the draw may repeat it
            self.bind_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.config_path = workdir / "influxdb.conf"
        self.config_path.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{self.bind_port}"\n'
            f'[meta]\n  dir = "{workdir}/meta"\n  logging-enabled = false\n'
            f'[data]\n  dir = "{workdir}/data"\n  wal-dir = "{workdir}/wal"\n  wal-fsync-delay = "0s"\n'
            '  index-version = "inmem"\n  query-log-enabled = false\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.http_port}"\n  log-enabled = false\n'
            "  max-body-size = 0\n"
            "[monitor]\n  store-enabled = false\n"
            "[continuous_queries]\n  enabled = false\n"
            "[retention]\n  enabled = false\n"
            "[subscriber]\n  enabled = false\n"
            '[logging]\n  level = "warn"\n  suppress-logo = true\n'
        )

    def _command(self) -> list[str]:
        return [INFLUXD_BIN, "run", "-config", str(self.config_path)]

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ping", timeout=1.0).status_code == 204
        except httpx.HTTPError:
            return False

    def create_database(self, db: str) -> None:
        self._post_query(f'CREATE DATABASE "{db}"')

    def write(self, db: str, lines: str, precision: str = "ns") -> None:
        r = httpx.post(f"{self.url}/write", params={"db": db, "precision": precision}, content=lines, timeout=30)
        r.raise_for_status()

    def _post_query(self, q: str, db: str | None = None) -> dict[str, Any]:
        params = {"q": q, **({"db": db} if db else {})}
        r = httpx.post(f"{self.url}/query", params=params, timeout=60)
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    def query(self, db: str, influxql: str) -> list[dict[str, Any]]:
        """Run one InfluxQL statement; return its rows as dicts (columns plus the series' tags), all series
        concatenated. Raises RuntimeError when InfluxDB reports an error."""
        body = self._post_query(influxql, db)
        rows: list[dict[str, Any]] = []
        for result in body.get("results", []):
            if "error" in result:
                raise RuntimeError(f"InfluxQL error: {result['error']}")
            for series in result.get("series", []):
                tags = series.get("tags", {})
                columns = series["columns"]
                for values in series.get("values", []):
                    rows.append({**tags, **dict(zip(columns, values, strict=True)), "_measurement": series["name"]})
        return rows


@contextlib.contextmanager
def _running(proc: _Process) -> Iterator[None]:
    try:
        proc.start()
        yield
    finally:
        proc.stop(signal.SIGKILL)


@pytest.fixture
def mosquitto() -> Iterator[MosquittoProcess]:
    """A private Mosquitto broker (function scope): `.host`, `.port`, `.stop()`, `.kill()`, `.restart()`."""
    ensure_binary(MOSQUITTO_BIN, "mosquitto")
    with tempfile.TemporaryDirectory(prefix="cw-mosq-") as d:
        proc = MosquittoProcess(Path(d))
        with _running(proc):
            yield proc


@pytest.fixture
def influxd() -> Iterator[InfluxProcess]:
    """A private influxd 1.6.7 (function scope): `.url`, `.query(db, influxql)`, `.create_database(db)`."""
    ensure_binary(INFLUXD_BIN, "influxdb")
    with tempfile.TemporaryDirectory(prefix="cw-influx-") as d:
        proc = InfluxProcess(Path(d))
        with _running(proc):
            yield proc
