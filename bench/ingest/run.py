"""Ingest benchmark: MQTT (QoS 1, persistent session) -> ingester -> InfluxDB, against `mosquitto_sub`.

    python -m bench.ingest [--messages 200000] [--json]

What it does, on private Mosquitto and influxd processes started on free ports:
1. starts the ingester (`python -m cwatch.ingester`, a subprocess) once so its persistent session exists, then
   stops it; registers a persistent `mosquitto_sub` session (QoS 1) the same way;
2. publishes the stream — realistic protocol v1 telemetry and heartbeats of every device class of the sample
   street, with per-device `seq` — at QoS 1 (gmqtt), waiting for every PUBACK; the broker queues it for both
   sessions (queued first, so the publisher's speed does not limit what is measured);
3. starts the ingester and times how long until every message is a point in InfluxDB (polled from influxd's
   own write counter, which costs it nothing, and confirmed with one InfluxQL count, which scans everything);
   the rate is taken from the first stored point to the last, so interpreter start-up is not counted; the
   rate at which the ingester spooled (and so acknowledged) the stream is read from its /metrics too;
4. times `mosquitto_sub -c -q 1 -C N` draining the same queued stream (the C client's rate is the ceiling);
5. times influxd alone taking the same stream's points, built beforehand (cwatch's line protocol, 5,000 lines
   to a gzip body) and posted to a fresh database over two connections with nothing else running: the rate
   no ingester on this machine can pass, since every message is a point;
6. prints the rates, the ratios, each process's CPU time per message, the ingester's peak RSS (VmHWM), and the
   load average (other work on the machine lowers every rate).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip as zlib_gzip
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import gmqtt
import httpx

from core.clock import SystemClock
from devices.examples import EXAMPLES
from devices.payloads import Channel
from devices.sample import sample_street
from devices.topics import topic_for
from ingest.decode import Decoder
from ingest.lineprotocol import lines
from testkit.services import InfluxProcess, MosquittoProcess, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
DB = "bench"
ALONE_DB = "alone"
MOSQUITTO_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"


def make_stream(n: int, seed: int = 1) -> list[tuple[str, bytes]]:
    """`n` messages round-robin over the sample street's devices: each class's first telemetry example (or a
    heartbeat for classes without telemetry), device time in the last hour, unique `seq` per device."""
    reg = sample_street(seed)
    devices = []
    for d in reg.devices.values():
        p = reg.placement(d.id)
        assert p is not None
        if (d.device_class, Channel.TELEMETRY) in EXAMPLES:
            channel = Channel.TELEMETRY
            body = next(e for e in EXAMPLES[(d.device_class, channel)] if "frozen" not in e)
        else:
            channel = Channel.STATUS
            body = {"state": "heartbeat", "battery_pct": 87, "rssi_dbm": -91}
        devices.append((topic_for(p.community_id, d.id, channel), dict(body)))
    base = time.time() - 3600
    out = []
    for i in range(n):
        topic, body = devices[i % len(devices)]
        seq = i // len(devices) + 1
        body = {**body, "ts": round(base + i * 0.01, 3), "seq": seq}
        out.append((topic, json.dumps(body, separators=(",", ":")).encode()))
    return out


def publish(port: int, messages: list[tuple[str, bytes]], chunk: int = 10_000) -> float:
    """Publish at QoS 1 with gmqtt (about 5x paho's rate here) and wait for every PUBACK; return the seconds.
    gmqtt has no public per-message PUBACK hook: waiting for its (private) outbound store to empty is how."""

    async def go() -> float:
        c = gmqtt.Client(f"bench-pub-{time.monotonic_ns()}")
        await c.connect("127.0.0.1", port)
        t0 = time.perf_counter()
        for i in range(0, len(messages), chunk):
            for topic, payload in messages[i : i + chunk]:
                c.publish(topic, payload, qos=1)
            await c._persistent_storage.wait_empty()
        elapsed = time.perf_counter() - t0
        await c.disconnect()
        return elapsed

    return asyncio.run(go())


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` (all threads) from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def children(pid: int) -> list[int]:
    """Child processes of `pid` (an ingester's telemetry drain process)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
        return [int(c) for t in tasks for c in (t / "children").read_text().split()]
    except OSError:
        return []


def stored_count(influx: InfluxProcess) -> int:
    try:
        rows = influx.query(DB, "SELECT count(seq) FROM /.*/")
    except Exception:
        return 0
    return sum(int(r["count"]) for r in rows)


def points_written(influx: InfluxProcess) -> int:
    """influxd's own count of points accepted over HTTP (`/debug/vars`, httpd `pointsWrittenOK`).

    Cheap to read, unlike `SELECT count(...)`, which scans every stored point: polled 20 times a second it
    cost influxd more CPU than the writes did (31 µs per point instead of ~10) and took a core from the
    ingester. Rewrites of the same point count again, so the final figure is confirmed with InfluxQL.
    """
    try:
        stats = httpx.get(f"{influx.url}/debug/vars", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return 0
    return sum(
        int(v["values"].get("pointsWrittenOK", 0))
        for v in stats.values()
        if isinstance(v, dict) and v.get("name") == "httpd"
    )


def peak_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Ingester:
    def __init__(
        self,
        workdir: Path,
        broker_port: int,
        influx_url: str,
        index: int = 0,
        shared: bool = False,
        drain: str = "inline",
        gzip: bool = True,
    ) -> None:
        workdir = workdir / f"ingester-{index}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "cwatch.toml"
        group = 'shared_group = "bench"\n' if shared else ""
        self.config.write_text(
            f'data_dir = "{workdir / "data"}"\nlog_level = "WARNING"\n'
            f'[mqtt]\nurl = "mqtt://127.0.0.1:{broker_port}"\nclient_id = "bench-ingest-{index}"\n{group}'
            f'[telemetry]\nbackend = "influx_v1"\ninflux_url = "{influx_url}"\ninflux_database = "{DB}"\n'
            f"gzip = {'true' if gzip else 'false'}\n"
            f'[store]\nurl = "sqlite+aiosqlite:///{workdir / "store.db"}"\n'
            f'[ingest]\ntelemetry_drain = "{drain}"\n'
        )
        self.log = workdir / "ingester.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CWATCH_")}
        env["PYTHONPATH"] = str(ROOT)
        self.metrics_port = free_port()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cwatch.ingester",
                    "--config",
                    str(self.config),
                    "--metrics-port",
                    str(self.metrics_port),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self.proc.pid

    def spooled(self) -> int:
        """Readings the running ingester has appended to its spool (and so acknowledged), from /metrics."""
        try:
            text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2).text
        except httpx.HTTPError:
            return 0
        for line in text.splitlines():
            if line.startswith("cwatch_ingest_spooled_total "):
                return int(float(line.split()[1]))
        return 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)


def register_sub(port: int) -> None:
    """Create the persistent QoS 1 session of `mosquitto_sub` (it exits after 1 s without messages)."""
    subprocess.run(
        [MOSQUITTO_SUB, "-p", str(port), "-c", "-i", "bench-sub", "-q", "1", "-t", "cw/+/+/+", "-W", "1"],
        capture_output=True,
        check=False,
    )


def influx_bodies(stream: list[tuple[str, bytes]], *, gzip: bool, batch: int = 5000) -> list[bytes]:
    """The stream's points as the ingester writes them: its decoder and line protocol, `batch` lines a body."""
    decoder = Decoder(sample_street(1), SystemClock())
    readings = [
        r for topic, payload in stream for r in decoder.decode(topic, payload, retain=False, received_at=time.time())
    ]
    ok, bad = lines(readings)
    assert not bad, bad[:3]
    points = [line for _, line in ok]
    bodies = ["\n".join(points[i : i + batch]).encode() for i in range(0, len(points), batch)]
    return [zlib_gzip.compress(b, compresslevel=1) for b in bodies] if gzip else bodies


def time_influx_alone(influx: InfluxProcess, bodies: list[bytes], *, gzip: bool, connections: int = 2) -> float:
    """Seconds for influxd to take `bodies` into a fresh database, posted over `connections` keep-alive
    connections at once (one connection leaves influxd's second core idle)."""
    influx.create_database(ALONE_DB)
    host, port = influx.url.removeprefix("http://").split(":")
    headers = {"Content-Type": "text/plain; charset=utf-8", **({"Content-Encoding": "gzip"} if gzip else {})}
    errors: list[str] = []

    def post(part: list[bytes]) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            for body in part:
                conn.request("POST", f"/write?db={ALONE_DB}&precision=ns", body=body, headers=headers)
                response = conn.getresponse()
                text = response.read()
                if response.status != 204:
                    errors.append(f"{response.status} {text[:200]!r}")
                    return
        finally:
            conn.close()

    threads = [threading.Thread(target=post, args=(bodies[i::connections],)) for i in range(connections)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"influxd refused a write: {errors[0]}")
    return elapsed


def time_sub(port: int, n: int) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [MOSQUITTO_SUB, "-p", str(port), "-c", "-i", "bench-sub", "-q", "1", "-t", "cw/+/+/+", "-C", str(n)],
        stdout=subprocess.DEVNULL,
        check=True,
        timeout=600,
    )
    return time.perf_counter() - t0


def run(n: int, ingesters: int = 1, drain: str = "inline", *, gzip: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cw-bench-") as d:
        work = Path(d)
        broker = MosquittoProcess(work / "mosquitto")
        influx = InfluxProcess(work / "influx")
        broker.start()
        influx.start()
        shared = ingesters > 1
        pool = [Ingester(work, broker.port, influx.url, i, shared, drain, gzip) for i in range(ingesters)]
        try:
            influx.create_database(DB)
            # 1. sessions: start the ingesters until a probe message is stored, then stop them
            probe = make_stream(1)
            for ing in pool:
                ing.start()
            deadline = time.monotonic() + 60
            while stored_count(influx) == 0:
                if time.monotonic() > deadline:
                    logs = "\n".join(ing.log.read_text()[-2000:] for ing in pool)
                    raise RuntimeError(f"ingester never stored the probe:\n{logs}")
                publish(broker.port, probe)
                with contextlib.suppress(TimeoutError):
                    wait_until(lambda: stored_count(influx) > 0, timeout=2, what="probe")
            for ing in pool:
                ing.stop()
            influx.query(DB, "DROP SERIES FROM /.*/")
            register_sub(broker.port)
            # 2. the stream, queued at the broker for both sessions (shared among the ingesters' sessions)
            stream = make_stream(n)
            payload_bytes = sum(len(p) for _, p in stream) / len(stream)
            publish_s = publish(broker.port, stream)
            # 3. the ingesters drain it into InfluxDB
            t_start = time.perf_counter()
            pids = [ing.start() for ing in pool]
            assert broker.proc is not None
            assert influx.proc is not None
            servers = {"mosquitto": broker.proc.pid, "influxd": influx.proc.pid}
            first_servers: dict[str, float] = {}
            first_t, first_n, first_cpu, first_child_cpu = None, 0, 0.0, 0.0
            kids: set[int] = set()
            spool_first: tuple[float, int] | None = None
            spool_done: float | None = None
            rss: dict[int, int] = {}
            written_before = points_written(influx)
            confirmed_at = 0.0
            while True:
                count = points_written(influx) - written_before
                spooled = sum(ing.spooled() for ing in pool)
                now = time.perf_counter()
                for pid in pids:
                    kids.update(children(pid))
                for pid in [*pids, *kids]:
                    rss[pid] = max(rss.get(pid, 0), peak_rss_kib(pid))
                if first_t is None and count > 0:
                    first_t, first_n = now, count
                    first_cpu = sum(cpu_seconds(pid) for pid in pids)
                    first_child_cpu = sum(cpu_seconds(pid) for pid in kids)
                    first_servers = {k: cpu_seconds(pid) for k, pid in servers.items()}
                if spool_first is None and spooled > 0:
                    spool_first = (now, spooled)
                if spool_done is None and spooled >= n:
                    spool_done = now
                if count >= n and now - confirmed_at > 0.5:
                    confirmed_at = now
                    if stored_count(influx) >= n:  # every (device, seq) stored, not merely n writes
                        break
                if now - t_start > 900:
                    raise RuntimeError(f"only {count} of {n} points written after 900 s")
                time.sleep(0.05)
            end_t = time.perf_counter()
            cpu = sum(cpu_seconds(pid) for pid in pids) - first_cpu
            child_cpu = sum(cpu_seconds(pid) for pid in kids) - first_child_cpu
            server_cpu = {k: cpu_seconds(pid) - first_servers[k] for k, pid in servers.items()}
            for pid in [*pids, *kids]:
                rss[pid] = max(rss.get(pid, 0), peak_rss_kib(pid))
            for ing in pool:
                ing.stop()
            assert first_t is not None
            ingest_rate = (n - first_n) / (end_t - first_t) if end_t > first_t else float("nan")
            spool_rate = float("nan")
            if spool_first is not None and spool_done is not None and spool_done > spool_first[0]:
                spool_rate = (n - spool_first[1]) / (spool_done - spool_first[0])
            # 4. mosquitto_sub drains the same stream
            sub_s = time_sub(broker.port, n)
            sub_rate = n / sub_s
            # 5. influxd alone takes the same points
            bodies = influx_bodies(stream, gzip=gzip)
            influxd_cpu0 = cpu_seconds(influx.proc.pid)
            alone_s = time_influx_alone(influx, bodies, gzip=gzip)
            alone_cpu = cpu_seconds(influx.proc.pid) - influxd_cpu0
            alone_rate = n / alone_s
            return {
                "messages": n,
                "ingesters": ingesters,
                "telemetry_drain": drain,
                "gzip": gzip,
                "avg_payload_bytes": round(payload_bytes, 1),
                "publish_rate_msg_s": round(n / publish_s),
                "ingest_rate_msg_s": round(ingest_rate),
                "acknowledged_rate_msg_s": round(spool_rate) if spool_rate == spool_rate else None,
                "ingest_total_s_incl_startup": round(end_t - t_start, 2),
                "mosquitto_sub_rate_msg_s": round(sub_rate),
                "ratio": round(ingest_rate / sub_rate, 3),
                "influxd_alone_rate_msg_s": round(alone_rate),
                "influxd_alone_cpu_us_per_msg": round(alone_cpu / n * 1e6, 1),
                "influxd_alone_ratio_to_mosquitto_sub": round(alone_rate / sub_rate, 3),
                "ratio_to_influxd_alone": round(ingest_rate / alone_rate, 3),
                "ingester_cpu_us_per_msg": round(cpu / (n - first_n) * 1e6, 1),
                "drain_process_cpu_us_per_msg": round(child_cpu / (n - first_n) * 1e6, 1),
                "mosquitto_cpu_us_per_msg": round(server_cpu["mosquitto"] / (n - first_n) * 1e6, 1),
                "influxd_cpu_us_per_msg": round(server_cpu["influxd"] / (n - first_n) * 1e6, 1),
                "ingester_peak_rss_mib": round(sum(rss.values()) / 1024, 1),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "cpus": os.cpu_count(),
            }
        finally:
            for ing in pool:
                ing.stop()
            broker.stop()
            influx.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description="MQTT -> InfluxDB ingest benchmark")
    p.add_argument("--messages", type=int, default=200_000)
    p.add_argument("--ingesters", type=int, default=1, help="ingester processes sharing the stream ($share/bench/...)")
    p.add_argument(
        "--drain",
        choices=["inline", "process"],
        default="process",
        help="[ingest] telemetry_drain: write to InfluxDB from the ingester's process or a second one",
    )
    p.add_argument(
        "--no-gzip", action="store_true", help="[telemetry] gzip = false (InfluxDB on the same host: saves its CPU)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    result = run(args.messages, args.ingesters, args.drain, gzip=not args.no_gzip)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:38} {v}")
    return 0
