"""At-least-once under crashes: 20,000 QoS 1 messages published with per-device `seq` while the ingester (a
subprocess) is SIGKILLed and restarted, the broker restarted, or InfluxDB stopped. Every message the broker
acknowledged to the publisher must be in InfluxDB, once per (device, seq), counted with InfluxQL; and every
acknowledged malformed message among them (one in a hundred) must be a dead letter.

Slow (about 20-40 s each): real Mosquitto, real influxd, a real ingester process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.sample import sample_street
from devices.topics import topic_for
from testkit.services import InfluxProcess, MosquittoProcess, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.influx, pytest.mark.timeout(240)]

DB = "cwatch"
N_DEVICES = 100
PER_DEVICE = 200  # 20,000 messages
ROOT = Path(__file__).resolve().parents[2]


class IngesterProcess:
    """`python -m cwatch.ingester` with a generated settings file; `kill()` is SIGKILL."""

    def __init__(self, workdir: Path, broker_port: int, influx_url: str, drain: str = "inline") -> None:
        self.workdir = workdir
        self.config = workdir / "cwatch.toml"
        self.config.write_text(
            f'data_dir = "{workdir / "data"}"\n'
            'log_level = "WARNING"\n'
            "[mqtt]\n"
            f'url = "mqtt://127.0.0.1:{broker_port}"\n'
            'client_id = "cwatch-ingest-killtest"\n'
            "[telemetry]\n"
            'backend = "influx_v1"\n'
            f'influx_url = "{influx_url}"\n'
            f'influx_database = "{DB}"\n'
            "[store]\n"
            f'url = "sqlite+aiosqlite:///{workdir / "store.db"}"\n'
            "[ingest]\n"
            f'telemetry_drain = "{drain}"\n'
        )
        self.log = workdir / "ingester.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env = {k: v for k, v in env.items() if not k.startswith("CWATCH_")}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cwatch.ingester", "--config", str(self.config)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    def kill(self) -> None:
        assert self.alive(), f"ingester died early:\n{self.tail()}"
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def children(self) -> list[int]:
        """Pids of the ingester's live child processes (its telemetry drain process). A killed child stays
        listed as a zombie until the ingester reaps it, and a thread may end while its tasks are read: neither
        is an answer."""
        assert self.proc is not None
        pids: list[int] = []
        for t in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                pids += [int(pid) for pid in (t / "children").read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue  # the thread ended meanwhile
        return [pid for pid in pids if running(pid)]

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def running(pid: int) -> bool:
    """Whether `pid` exists and has not exited: a zombie (exited, not yet reaped by its parent, which for an
    orphan may never happen in a container whose init does not reap) counts as exited."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


class Publisher:
    """Publishes `messages` at QoS 1 from a thread with paho, at most `window` unacknowledged at a time;
    `acked()` is the set of (device, seq) whose PUBLISH the broker acknowledged."""

    def __init__(self, port: int, messages: list[tuple[str, bytes, tuple[str, int]]], window: int = 500) -> None:
        self.port = port
        self.messages = messages
        self.done = threading.Event()
        self.error: BaseException | None = None
        self._sent: list[tuple[paho.MQTTMessageInfo, tuple[str, int]]] = []
        self._room = threading.Semaphore(window)
        self.acks = 0
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"killtest-pub-{os.getpid()}", clean_session=False)
        c.max_inflight_messages_set(window)
        c.max_queued_messages_set(0)
        c.reconnect_delay_set(1, 1)
        c.on_publish = self._on_publish
        self.client = c
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _on_publish(self, *_args: object) -> None:
        self.acks += 1  # only this paho thread writes it
        self._room.release()

    def acked(self) -> set[tuple[str, int]]:
        return {key for info, key in list(self._sent) if _published(info)}

    @property
    def acked_count(self) -> int:
        return self.acks

    def start(self) -> None:
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        self._thread.start()

    def _run(self) -> None:
        try:
            for topic, payload, key in self.messages:
                self._room.acquire(timeout=5)  # a message lost in a broker restart never frees its slot
                self._sent.append((self.client.publish(topic, payload, qos=1), key))
            # what is still in flight gets until the deadline to be acknowledged (after a broker restart)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not all(_published(i) for i, _ in self._sent):
                self._room.acquire(timeout=0.2)
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _published(info: paho.MQTTMessageInfo) -> bool:
    """True once the broker acknowledged the message; False when paho could not send it (broker down)."""
    try:
        return info.is_published()
    except RuntimeError:
        return False


JUNK = "junk"
"""The device part of the key of a malformed message in the stream: (JUNK, n), its payload `{"junk": n` ."""


def stream(n_devices: int = N_DEVICES, per_device: int = PER_DEVICE) -> list[tuple[str, bytes, tuple[str, int]]]:
    """Water-meter telemetry interleaved across devices; device time is unique per (device, seq). One message in
    a hundred more is malformed JSON (refused, to be dead-lettered)."""
    reg = sample_street(1)
    meters = [d for d in reg.devices.values() if d.device_class == "water_meter"][:n_devices]
    base = time.time() - 3 * 3600
    out = []
    for seq in range(1, per_device + 1):
        for d in meters:
            placement = reg.placement(d.id)
            assert placement is not None
            topic = topic_for(placement.community_id, d.id, "telemetry")
            body = {"ts": round(base + seq * 10.0, 3), "seq": seq, "volume_m3": round(seq * 0.01, 3), "flow_lpm": 1.5}
            out.append((topic, json.dumps(body).encode(), (d.id, seq)))
            if len(out) % 100 == 0:
                n = len(out) // 100
                out.append((topic, b'{"junk": %d' % n, (JUNK, n)))
    return out


def dead_lettered(store: Path) -> set[tuple[str, int]]:
    """The keys of the stream's malformed messages in the ingester's dead letters."""
    if not store.exists():
        return set()
    with contextlib.closing(sqlite3.connect(store, timeout=10)) as db:
        rows = db.execute("SELECT payload FROM ingest_dead_letters WHERE reason = 'malformed_json'").fetchall()
    return {(JUNK, int(bytes(p).removeprefix(b'{"junk": '))) for (p,) in rows}


def stored(influxd: InfluxProcess) -> list[tuple[str, int]]:
    rows = influxd.query(DB, "SELECT seq, device FROM water_meter")
    return [(r["device"], int(r["seq"])) for r in rows]


def stored_count(influxd: InfluxProcess) -> int:
    try:
        rows = influxd.query(DB, "SELECT count(seq) FROM water_meter")
    except Exception:
        return 0
    return int(rows[0]["count"]) if rows else 0


@dataclass
class Rig:
    mosquitto: MosquittoProcess
    influxd: InfluxProcess
    ingester: IngesterProcess

    def probe(self) -> None:
        """Publish one message and wait until it is in InfluxDB: the ingester's session exists from then on."""
        reg = sample_street(1)
        d = next(d for d in reg.devices.values() if d.device_class == "water_meter")
        p = reg.placement(d.id)
        assert p is not None
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id="killtest-probe")
        c.connect("127.0.0.1", self.mosquitto.port)
        c.loop_start()
        try:
            deadline = time.monotonic() + 60
            seq = 10**6
            while True:
                assert time.monotonic() < deadline, f"probe never stored:\n{self.ingester.tail()}"
                assert self.ingester.alive(), f"ingester died:\n{self.ingester.tail()}"
                seq += 1  # a probe published before the ingester subscribed is lost: publish again
                body = {"ts": time.time() - 7200, "seq": seq, "volume_m3": 1.0}
                c.publish(topic_for(p.community_id, d.id, "telemetry"), json.dumps(body), qos=1).wait_for_publish(5)
                try:
                    wait_until(lambda: stored_count(self.influxd) > 0, timeout=2, what="the probe")
                    return
                except TimeoutError:
                    continue
        finally:
            c.disconnect()
            c.loop_stop()

    def wait_stored(self, n: int, timeout: float = 90) -> None:
        wait_until(lambda: stored_count(self.influxd) >= n, timeout=timeout, what=f"{n} points in InfluxDB")


@pytest.fixture
def drain() -> str:
    return "inline"


@pytest.fixture
def rig(mosquitto: MosquittoProcess, influxd: InfluxProcess, tmp_path: Path, drain: str) -> Iterator[Rig]:
    influxd.create_database(DB)
    ingester = IngesterProcess(tmp_path, mosquitto.port, influxd.url, drain)
    ingester.start()
    r = Rig(mosquitto, influxd, ingester)
    try:
        r.probe()
        yield r
    finally:
        ingester.stop()


def wait_progress(pub: Publisher, n: int) -> None:
    """Wait until the broker acknowledged `n` more messages (or the publisher is done)."""
    target = pub.acked_count + n
    wait_until(lambda: pub.done.is_set() or pub.acked_count >= target, timeout=60, what="publisher progress")


def run_stream(rig: Rig, during: Callable[[Publisher], None]) -> Publisher:
    """Publish the stream while `during(publisher)` disturbs the system; then check InfluxDB."""
    pub = Publisher(rig.mosquitto.port, stream())
    pub.start()
    try:
        during(pub)
        assert pub.done.wait(180), "publisher did not finish"
        assert pub.error is None, pub.error
    finally:
        pub.close()
    everything = pub.acked()
    junk = {key for key in everything if key[0] == JUNK}
    acked = everything - junk
    assert len(acked) >= 0.9 * N_DEVICES * PER_DEVICE, f"only {len(acked)} of {len(pub.messages)} acknowledged"
    probe_points = 1  # at least one probe message is stored too
    rig.wait_stored(len(acked) + probe_points, timeout=120)
    # The count alone does not say every acknowledged message is there: it also holds any further probe and the
    # messages paho published while the broker was down (queued, sent after the reconnect, not in `acked`).
    rows: list[tuple[str, int]] = []

    def all_acked_stored() -> bool:
        rows[:] = [r for r in stored(rig.influxd) if r[1] < 10**6]
        return acked <= set(rows)

    with contextlib.suppress(TimeoutError):  # the assertions below say what is missing
        wait_until(all_acked_stored, timeout=60, interval=0.5, what="every acknowledged message in InfluxDB")
    assert len(rows) == len(set(rows)), "a (device, seq) is stored twice"
    missing = acked - set(rows)
    assert not missing, f"{len(missing)} acknowledged messages missing, e.g. {sorted(missing)[:5]}"
    store = rig.ingester.workdir / "store.db"
    with contextlib.suppress(TimeoutError):  # the assertion below says what is missing
        wait_until(lambda: junk <= dead_lettered(store), timeout=30, interval=0.5, what="every dead letter")
    lost = junk - dead_lettered(store)
    assert not lost, f"{len(lost)} of {len(junk)} acknowledged malformed messages not dead-lettered: {sorted(lost)[:5]}"
    return pub


def test_ingester_sigkilled_three_times_loses_nothing(rig: Rig) -> None:
    def kills(pub: Publisher) -> None:
        for k in range(1, 4):
            rig.wait_stored(k * 4_000)
            rig.ingester.kill()
            # messages pile up at the broker while the ingester is dead
            wait_progress(pub, 1_000)
            rig.ingester.start()

    run_stream(rig, kills)
    assert rig.ingester.starts == 4


def test_broker_restart_mid_stream_loses_nothing(rig: Rig) -> None:
    def restart_broker(pub: Publisher) -> None:
        rig.wait_stored(6_000)
        rig.mosquitto.restart(signal.SIGTERM)
        rig.wait_stored(12_000)
        rig.mosquitto.restart(signal.SIGTERM)

    run_stream(rig, restart_broker)


def test_influxdb_down_for_part_of_the_run_loses_nothing(rig: Rig) -> None:
    def influx_outage(pub: Publisher) -> None:
        rig.wait_stored(5_000)
        rig.influxd.stop(signal.SIGTERM)
        wait_progress(pub, 5_000)
        rig.ingester.kill()  # the spool must survive a crash while the database is down
        rig.ingester.start()
        wait_until(pub.done.is_set, timeout=120, what="publisher to finish")
        rig.influxd.start()

    run_stream(rig, influx_outage)


@pytest.mark.parametrize("drain", ["process"])
def test_drain_process_and_ingester_sigkilled_lose_nothing(rig: Rig) -> None:
    """`telemetry_drain = "process"`: the drain process is SIGKILLed twice (the ingester starts another), then
    the ingester itself (its drain process sees its pipe close and exits)."""
    restarted: list[int] = []

    def kills(pub: Publisher) -> None:
        for k in range(1, 3):
            rig.wait_stored(k * 4_000)
            (child,) = rig.ingester.children()
            os.kill(child, signal.SIGKILL)
            restarted.append(child)
            wait_until(
                lambda child=child: rig.ingester.children() not in ([], [child]),  # type: ignore[misc]
                timeout=30,
                what="a new drain process",
            )
        rig.wait_stored(12_000)
        (child,) = rig.ingester.children()
        rig.ingester.kill()
        wait_until(lambda: not running(child), timeout=30, what="the orphaned drain process to exit")
        wait_progress(pub, 1_000)
        rig.ingester.start()

    run_stream(rig, kills)
    assert len(restarted) == 2
