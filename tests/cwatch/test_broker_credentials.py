"""`cwatch broker credentials` on a real Mosquitto configured by `deploy/mosquitto.conf` itself (ports, paths and
certificate swapped for the test's): a device writes its own topics and nothing else, reads nothing, cannot take
the ingester's client id, connects over the TLS listener, and loses access at the generation after it left the
registry. New passwords go to a file only the operator can read, once, and never to the output or the log."""

from __future__ import annotations

import asyncio
import csv
import logging
import re
import shutil
import stat
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from cwatch.brokerauth import Account, accounts_for, generate, hash_password, parse_password_file, verify_password
from cwatch.brokerfiles import ACL_FILE, PASSWORD_FILE
from cwatch.cli import main
from cwatch.errors import BrokerCredentialsError
from devices.csvio import load_registry
from ingest.transport import GmqttTransport, InboundMessage, MqttOptions
from testkit.services import MOSQUITTO_BIN, MosquittoProcess, ensure_binary, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
INGEST_PASSWORD = "ingest-pw-0123456789"
REFUSED = ("Not authorized", "Bad user name or password")  # what Mosquitto 2 answers a wrong login, by version


# --- the world: a registry in a store, a generation, Mosquitto as deployed ----------------------------------------


def deployed_config(port: int, tls_port: int, workdir: Path, auth: Path, cert: Path, key: Path) -> str:
    """deploy/mosquitto.conf with the test's ports and paths. Each swap must apply exactly once, so a change of the
    shipped file that this test no longer covers makes it fail instead of testing something else."""
    text = (ROOT / "deploy" / "mosquitto.conf").read_text(encoding="utf-8")
    swaps = {
        "listener 8883 0.0.0.0": f"listener {tls_port} 127.0.0.1",
        "listener 1883 127.0.0.1": f"listener {port} 127.0.0.1",
        "certfile /etc/mosquitto/certs/broker.crt": f"certfile {cert}",
        "keyfile /etc/mosquitto/certs/broker.key": f"keyfile {key}",
        "persistence_location /var/lib/mosquitto/": f"persistence_location {workdir / 'persist'}/",
        f"password_file /etc/mosquitto/{PASSWORD_FILE}": f"password_file {auth / PASSWORD_FILE}",
        f"acl_file /etc/mosquitto/{ACL_FILE}": f"acl_file {auth / ACL_FILE}",
    }
    for old, new in swaps.items():
        assert len(re.findall(rf"^{re.escape(old)}$", text, re.M)) == 1, old
        text = re.sub(rf"^{re.escape(old)}$", new, text, flags=re.M)
    # as root Mosquitto would drop to user `mosquitto`, who cannot read the test's temp dir
    return text + "user root\nlog_type error\nlog_type warning\nlog_type notice\n"


def self_signed(folder: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is missing")
    cert, key = folder / "broker.crt", folder / "broker.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days",
         "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out",
         str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def small_street(folder: Path, devices: int = 60) -> Path:
    """The sample street with its first `devices` devices only (hashing 6,000 passwords takes a while)."""
    assert main(["registry", "sample", str(folder)]) == 0
    lines = (folder / "devices.csv").read_text(encoding="utf-8-sig").splitlines(keepends=True)
    (folder / "devices.csv").write_text("".join(lines[: devices + 1]), encoding="utf-8")
    return folder


@dataclass
class World:
    config: Path
    auth: Path
    registry: Path
    broker: MosquittoProcess
    tls_port: int
    ca: Path
    a: str  # two devices of the sample street, in one community
    b: str
    community: str

    def secrets(self) -> dict[str, str]:
        """Every password handed out so far (the latest per account)."""
        out: dict[str, str] = {}
        for path in sorted(self.auth.glob("device-secrets-*.csv")):
            with path.open(encoding="utf-8", newline="") as f:
                out.update({row["username"]: row["password"] for row in csv.DictReader(f)})
        return out

    def topic(self, device: str, channel: str = "telemetry") -> str:
        return f"cw/{self.community}/{device}/{channel}"


def cli(world_config: Path, *args: str) -> int:
    return main(["-c", str(world_config), *args])


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    ensure_binary(MOSQUITTO_BIN, "mosquitto")
    port, tls_port = free_port(), free_port()
    while tls_port == port:
        tls_port = free_port()
    cfg = tmp_path / "cwatch.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[mqtt]\nurl = "mqtt://cwatch-ingest:{INGEST_PASSWORD}@127.0.0.1:{port}"\n',
        encoding="utf-8",
    )
    street = small_street(tmp_path / "street")
    assert cli(cfg, "registry", "import", str(street)) == 0
    with (street / "devices.csv").open(encoding="utf-8-sig", newline="") as f:
        smoke = [r["id"] for r in csv.DictReader(f) if r["device_class"] == "smoke_detector"]
    auth = tmp_path / "auth"
    assert cli(cfg, "broker", "credentials", str(auth)) == 0
    cert, key = self_signed(tmp_path)
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    (workdir / "persist").mkdir()
    broker = MosquittoProcess(workdir, port, config=deployed_config(port, tls_port, workdir, auth, cert, key))
    registry = load_registry(street)
    community = registry.placement(smoke[0]).community_id  # type: ignore[union-attr]
    b = next(d for d in smoke[1:] if registry.placement(d).community_id == community)  # type: ignore[union-attr]
    try:
        broker.start()
        yield World(cfg, auth, street, broker, tls_port, cert, smoke[0], b, community)
    finally:
        broker.kill()


class Client:
    """A paho MQTT 5 client in its own thread that records what the broker tells it."""

    def __init__(
        self, port: int, user: str, password: str, *, client_id: str = "", ca: Path | None = None, wait: bool = True
    ) -> None:
        self.messages: list[paho.MQTTMessage] = []
        self.connack: list[str] = []
        self.disconnects: list[str] = []
        self.subacks: list[list[str]] = []
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5)
        self.c.username_pw_set(user, password)
        if ca is not None:
            self.c.tls_set(ca_certs=str(ca))
        self.c.on_connect = lambda _c, _u, _f, rc, _p: self.connack.append(str(rc))
        self.c.on_disconnect = lambda _c, _u, _f, rc, _p: self.disconnects.append(str(rc))
        self.c.on_message = lambda _c, _u, m: self.messages.append(m)
        self.c.on_subscribe = lambda _c, _u, _mid, rcs, _p: self.subacks.append([str(r) for r in rcs])
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        if wait:
            wait_until(lambda: self.connack, timeout=20, what=f"CONNACK for {user}")

    @property
    def accepted(self) -> bool:
        return self.connack[0] == "Success"

    def publish(self, topic: str, payload: bytes = b"{}") -> str:
        """Publish at QoS 1; the reason code of the broker's PUBACK."""
        codes: list[str] = []
        info = self.c.publish(topic, payload, qos=1)

        def puback(_c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
            if mid == info.mid:
                codes.append(str(rc))

        self.c.on_publish = puback
        info.wait_for_publish(20)
        wait_until(lambda: codes, timeout=20, what=f"PUBACK on {topic}")
        return codes[0]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@asynccontextmanager
async def ingester(port: int) -> AsyncIterator[tuple[GmqttTransport, list[InboundMessage]]]:
    """The ingester's transport, logged in with its own account from mqtt.url."""
    seen: list[InboundMessage] = []

    def handler(msg: InboundMessage) -> asyncio.Future[None]:
        seen.append(msg)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    options = MqttOptions(port=port, client_id="cwatch-ingest", username="cwatch-ingest", password=INGEST_PASSWORD)
    transport = GmqttTransport(options)
    task = asyncio.create_task(transport.run(handler))
    try:
        await until(lambda: transport.connected)
        yield transport, seen
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def until(predicate: Any, deadline_s: float = 20.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        await asyncio.sleep(0.01)


async def arrives(seen: list[InboundMessage], client: Client, topic: str, payload: bytes) -> None:
    """`client` publishes `payload` on `topic` (its own) and the ingester gets it: whatever the broker took from
    that client before has reached the ingester by then."""
    assert await asyncio.to_thread(client.publish, topic, payload) == "Success"
    await until(lambda: any(m.payload == payload for m in seen))


# --- on Mosquitto ---------------------------------------------------------------------------------------------


async def test_a_device_writes_its_own_topics_and_nothing_else(world: World) -> None:
    keys = world.secrets()
    async with ingester(world.broker.port) as (_, seen):
        a = Client(world.broker.port, world.a, keys[world.a])
        try:
            assert a.accepted
            refused = {
                topic: await asyncio.to_thread(a.publish, topic, b"as-someone-else")
                for topic in (
                    world.topic(world.b),  # another device
                    f"cw/other-community/{world.a}/telemetry",  # itself, in another community
                    f"cw/{world.community}/{world.a}",  # the wrong depth
                    f"{world.topic(world.a)}/extra",
                    "$SYS/broker/uptime",
                    "$cw/x",
                    "elsewhere",
                )
            }
            assert set(refused.values()) == {"Not authorized"}, refused
            await arrives(seen, a, world.topic(world.a), b"own")
            await arrives(seen, a, world.topic(world.a, "event"), b"own event")
        finally:
            a.close()
    assert not [m for m in seen if m.payload == b"as-someone-else"]


async def test_a_device_subscribed_to_everything_reads_nothing(world: World) -> None:
    keys = world.secrets()
    async with ingester(world.broker.port) as (_, seen):
        a = Client(world.broker.port, world.a, keys[world.a])
        b = Client(world.broker.port, world.b, keys[world.b])
        try:
            a.c.subscribe([("#", SubscribeOptions(qos=1)), ("$SYS/#", SubscribeOptions(qos=1))])
            wait_until(lambda: a.subacks, timeout=20, what="SUBACK")
            await arrives(seen, b, world.topic(world.b), b"from b")
            # the broker queued anything for `a` before it answers a's next publish: a round trip of a's own
            assert await asyncio.to_thread(a.publish, world.topic(world.a), b"from a") == "Success"
            await until(lambda: any(m.payload == b"from a" for m in seen))
        finally:
            a.close()
            b.close()
    assert a.messages == []


async def test_a_device_cannot_take_the_ingesters_client_id_or_account(world: World) -> None:
    keys = world.secrets()
    async with ingester(world.broker.port) as (transport, seen):
        thief = Client(world.broker.port, world.a, keys[world.a], client_id="cwatch-ingest")
        impostor = Client(world.broker.port, "cwatch-ingest", keys[world.a], client_id="cwatch-ingest")
        b = Client(world.broker.port, world.b, keys[world.b])
        try:
            assert thief.accepted  # as itself: the broker takes its user name for the client id
            assert impostor.connack[0] in REFUSED
            await arrives(seen, b, world.topic(world.b), b"still there")
            assert transport.connected
            assert transport.connections == 1  # never thrown off its session
        finally:
            for c in (thief, impostor, b):
                c.close()


async def test_devices_connect_over_the_tls_listener(world: World) -> None:
    keys = world.secrets()
    async with ingester(world.broker.port) as (_, seen):
        a = Client(world.tls_port, world.a, keys[world.a], ca=world.ca)
        try:
            assert a.accepted
            await arrives(seen, a, world.topic(world.a), b"over tls")
        finally:
            a.close()
    plain = Client(world.tls_port, world.a, keys[world.a], wait=False)
    try:  # the broker expects a TLS handshake: it closes the connection without a CONNACK
        wait_until(lambda: plain.disconnects, timeout=20, what="the TLS port to close a plain connection")
        assert plain.connack == []
    finally:
        plain.close()


def test_a_device_removed_from_the_registry_loses_access_at_the_next_generation(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = world.secrets()
    b = Client(world.broker.port, world.b, keys[world.b])
    assert b.accepted
    rows = (world.registry / "devices.csv").read_text(encoding="utf-8-sig").splitlines(keepends=True)
    (world.registry / "devices.csv").write_text("".join(r for r in rows if not r.startswith(f"{world.b},")))
    assert cli(world.config, "registry", "import", str(world.registry)) == 0
    capsys.readouterr()
    assert cli(world.config, "broker", "credentials", str(world.auth)) == 0
    # kept: the other devices' and the ingester's
    assert f"0 new password(s), {len(keys)} kept, 1 account(s) removed ({world.b})" in capsys.readouterr().out
    world.broker.reload()
    try:
        wait_until(lambda: b.disconnects, timeout=20, what=f"{world.b} to be disconnected")
    finally:
        b.close()
    again = Client(world.broker.port, world.b, keys[world.b])
    a = Client(world.broker.port, world.a, keys[world.a])  # the others keep their passwords
    try:
        assert again.connack[0] in REFUSED
        assert a.accepted
    finally:
        again.close()
        a.close()


# --- the files --------------------------------------------------------------------------------------------------


def test_passwords_are_written_once_for_the_operator_only_and_never_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = tmp_path / "cwatch.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[mqtt]\nurl = "mqtt://cwatch-ingest:{INGEST_PASSWORD}@127.0.0.1:1"\n',
        encoding="utf-8",
    )
    assert cli(cfg, "registry", "import", str(small_street(tmp_path / "street"))) == 0
    auth = tmp_path / "auth"
    assert cli(cfg, "broker", "credentials", str(auth)) == 0
    (secrets_file,) = auth.glob("device-secrets-*.csv")
    for path in (secrets_file, auth / PASSWORD_FILE, auth / ACL_FILE):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    with secrets_file.open(encoding="utf-8", newline="") as f:
        first = {row["username"]: row["password"] for row in csv.DictReader(f)}
    hashes = parse_password_file((auth / PASSWORD_FILE).read_text(encoding="utf-8"))
    assert set(hashes) == {*first, "cwatch-ingest"}
    device = sorted(first)[0]
    assert verify_password(first[device], hashes[device])
    assert verify_password(INGEST_PASSWORD, hashes["cwatch-ingest"])

    assert cli(cfg, "broker", "credentials", str(auth)) == 0  # nothing new: no second secrets file
    assert list(auth.glob("device-secrets-*.csv")) == [secrets_file]
    assert parse_password_file((auth / PASSWORD_FILE).read_text(encoding="utf-8")) == hashes

    assert cli(cfg, "broker", "credentials", str(auth), "--rotate", device) == 0
    (rotated,) = set(auth.glob("device-secrets-*.csv")) - {secrets_file}
    with rotated.open(encoding="utf-8", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["username"] == device
    assert row["password"] != first[device]
    after = parse_password_file((auth / PASSWORD_FILE).read_text(encoding="utf-8"))
    assert verify_password(row["password"], after[device])
    assert not verify_password(first[device], after[device])

    shown = capsys.readouterr()
    everything = shown.out + shown.err + caplog.text
    assert not [p for p in (*first.values(), row["password"], INGEST_PASSWORD) if p in everything]
    assert "readable by you only" in shown.out


def test_the_ingester_needs_an_account_of_its_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "cwatch.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n', encoding="utf-8")
    assert cli(cfg, "broker", "credentials", str(tmp_path / "auth")) == 2
    assert "mqtt.url has no user name and password" in capsys.readouterr().err
    assert not (tmp_path / "auth").exists()


# --- pure logic -------------------------------------------------------------------------------------------------


def test_hashes_are_mosquitto_passwds_own_format(tmp_path: Path) -> None:
    """Both ways: `mosquitto_passwd` verifies as ours does, and ours has its shape ($7$, PBKDF2-SHA512)."""
    passwd = shutil.which("mosquitto_passwd")
    if passwd is None:
        pytest.skip("mosquitto_passwd is missing")
    path = tmp_path / "p"
    path.touch()
    subprocess.run([passwd, "-b", str(path), "dev", "s3cret"], check=True, capture_output=True)
    theirs = parse_password_file(path.read_text())["dev"]
    assert verify_password("s3cret", theirs)
    assert not verify_password("s3cret!", theirs)
    ours = hash_password("s3cret", b"0123456789ab")
    assert re.fullmatch(r"\$7\$101\$[A-Za-z0-9+/=]{16}\$[A-Za-z0-9+/=]{88}", ours)
    assert ours.split("$")[:3] == theirs.split("$")[:3]


@dataclass(frozen=True)
class Dev:
    id: str
    community_id: str = "c1"
    gateway_id: str | None = None


def test_accounts_write_only_their_own_topics_and_gateways_their_devices() -> None:
    devices = [Dev("WM-2", gateway_id="gw-1"), Dev("WM-1", gateway_id="gw-1"), Dev("SD-1")]
    assert accounts_for(devices, ingester="cwatch-ingest", gateways=True) == [
        Account("cwatch-ingest", "ingester", ("cw/#",), "readwrite"),
        Account("SD-1", "device", ("cw/c1/SD-1/+",)),
        Account("WM-1", "device", ("cw/c1/WM-1/+",)),
        Account("WM-2", "device", ("cw/c1/WM-2/+",)),
        Account("gw-1", "gateway", ("cw/c1/WM-1/+", "cw/c1/WM-2/+")),
    ]
    assert len(accounts_for(devices, ingester="cwatch-ingest")) == 4


def test_names_that_would_share_an_account_are_refused() -> None:
    with pytest.raises(BrokerCredentialsError, match="device 'cwatch-ingest' and ingester 'cwatch-ingest'"):
        accounts_for([Dev("cwatch-ingest")], ingester="cwatch-ingest")
    with pytest.raises(BrokerCredentialsError, match="gateway 'SD-1' and device 'SD-1'"):
        accounts_for([Dev("SD-1", gateway_id="SD-1")], ingester="i", gateways=True)


def test_a_generation_keeps_hashes_drops_the_gone_and_refuses_unknown_rotations() -> None:
    accounts = accounts_for([Dev("A"), Dev("B")], ingester="i")
    first = generate(accounts, {}, ingester_password="pw")
    stored = parse_password_file(first.password_file)
    second = generate(accounts_for([Dev("A")], ingester="i"), stored, ingester_password="pw")
    assert (second.new, second.kept, second.removed) == ([], 2, ["B"])
    assert parse_password_file(second.password_file) == {"i": stored["i"], "A": stored["A"]}
    with pytest.raises(BrokerCredentialsError, match="cannot rotate Z"):
        generate(accounts, stored, ingester_password="pw", rotate=["Z"])
    with pytest.raises(BrokerCredentialsError, match=r"p:2: not a `user:\$7\$"):
        parse_password_file("a:$7$101$x$y\nb:plaintext\n", name="p")


def test_the_ingesters_password_is_the_one_the_transport_logs_in_with() -> None:
    from cwatch.brokerfiles import ingester_account
    from cwatch.settings import load_settings
    from ingest.transport import options_from_url

    url = "mqtt://cwatch-ingest:p%40ss%3Aword@127.0.0.1:1883"
    settings = load_settings(None, environ={"CWATCH_MQTT__URL": url})
    options = options_from_url(url)
    assert ingester_account(settings) == (options.username, options.password) == ("cwatch-ingest", "p@ss:word")
    other = load_settings(None, environ={"CWATCH_MQTT__URL": url, "CWATCH_MQTT__CLIENT_ID": "ingest-2"})
    with pytest.raises(BrokerCredentialsError, match=r"differs from mqtt\.client_id 'ingest-2'"):
        ingester_account(other)
