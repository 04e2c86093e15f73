"""Time to alert through the whole service under load: publish → ticket event on each role's live board.

    python -m bench.latency [--quick] [--size street|district] [--per-kind 20] [--rate 5000] [--storm 10000]

On its own processes: Mosquitto on a free port, influxd 1.6 (telemetry), a fresh PostgreSQL database on
127.0.0.1:5432 (tickets), and `cwatch serve` of this checkout as a child process with the bench's rules (the
shipped ones, with a short smoke verification and door-held-open wait) and registry (the sample street at
`--scale`, or a district; the silent devices report every few seconds). Then:

1. start-up: seconds from launching `cwatch serve` to its `started:` log line and to `/readyz` answering 200,
   and its resident memory (with its child processes) once ready and at the end;
2. one board per role (street, community, micro-grid leader, grid worker accounts) on `GET /api/v1/stream`,
   reloading the active list on `resync` as the board does;
3. `--rate` messages/s of normal telemetry from every device but the targets (`bench.latency.load`, its own
   process; its achieved rate is printed);
4. `--per-kind` times each, interleaved: a thrown object, a forced door, a smoke alarm, a door held open (QoS
   1 events) and a device gone silent (its last heartbeat), each on its own device; measured from the moment
   before the publish to the ticket's event on the street board, minus the rule's own wait; the same-run
   baseline is the publish → receipt time of a `mosquitto_sub` subscribed to the targets' topics;
5. the storm, once the background has stopped: `--storm` devices each publish a `tamper` event (one alert
   each) within `--storm-seconds`;
   measured: when every one is on the street board (by its event, or by the reload a `resync` causes), and
   the latency of `GET /api/v1/tickets` (the default first page, and a board's `?status=active&limit=500`),
   called back to back meanwhile; also the rule sweep's time (`cwatch_rules_sweep_seconds`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.latency.setup import (
    Kind,
    Plan,
    Waits,
    background,
    kinds,
    plan,
    topic,
    write_config,
    write_rules,
    write_stream,
)
from bench.latency.sse import BoardClient
from bench.latency.stats import fmt_s, percentile, table
from devices.csvio import save_registry
from devices.model import Role
from devices.payloads import Channel
from devices.registry import Registry
from devices.sample import sample_area, sample_street
from testkit import postgres
from testkit.services import InfluxProcess, MosquittoProcess, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "bench-latency-password"
METRICS_TOKEN = "bench-latency-metrics-token"
RESUME_S = 31.0  # `RuleRunner.resume_s` and a second
MOSQUITTO_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"


@dataclass
class Options:
    size: str = "street"
    scale: int = 2
    per_kind: int = 20
    gap_s: float = 0.2
    rate: float = 5000.0
    warmup_s: float = 10.0
    storm: int = 10_000
    storm_s: float = 10.0
    waits: Waits = field(default_factory=lambda: Waits(smoke_pending_s=5, door_held_s=5, silent_interval_s=4))
    timeout_s: float = 120.0
    registry_in_store: bool = False
    log: Path | None = None  # where to copy the service's log at the end


QUICK = Options(
    scale=1,
    per_kind=2,
    gap_s=0.1,
    rate=500.0,
    warmup_s=1.0,
    storm=200,
    storm_s=1.0,
    waits=Waits(smoke_pending_s=2, door_held_s=2, silent_interval_s=1),
    timeout_s=60.0,
)


def _cwatch(cfg: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cwatch.cli", "-c", str(cfg), *args]


def rss_kib(pid: int) -> int:
    """Resident memory of `pid` and its descendants (the telemetry drain process, if any)."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return total


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) `pid` has used: what a storm costs the service, whatever else the machine runs
    (its wall times grow with the load; its CPU much less)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Receipts:
    """`mosquitto_sub` on the targets' topics: when each topic's message reached a subscriber (the baseline)."""

    def __init__(self, port: int, topics: list[str]) -> None:
        self.at: dict[str, float] = {}
        args = ["stdbuf", "-oL", MOSQUITTO_SUB, "-p", str(port), "-q", "1", "-F", "%t", "-i", "bench-receipts"]
        for t in topics:
            args += ["-t", t]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.at.setdefault(line.strip(), time.time())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Publisher:
    """The bench's own QoS 1 publisher (paho, its network thread running)."""

    def __init__(self, port: int) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{time.monotonic_ns()}")
        self.client.max_inflight_messages_set(0)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(self, topic: str, body: dict[str, Any]) -> float:
        """Publish `body` dated now; returns the moment just before the publish (the device time it carries)."""
        t = time.time()
        ts = int(t * 1000) / 1000
        self.client.publish(topic, json.dumps({**body, "ts": ts}, ensure_ascii=False), qos=1)
        return ts

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class GetProbe:
    """Calls `GET /api/v1/tickets` back to back, alternately as the API's default first page (`limit` 50) and
    as a board's (`status=active&limit=500`), timing each."""

    QUERIES: tuple[dict[str, Any], ...] = ({}, {"status": "active", "limit": 500})

    def __init__(self, base: str, token: str) -> None:
        self._http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        self.calls: list[tuple[int, float, float]] = []  # (query, started, seconds)
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            t0 = time.time()
            p0 = time.perf_counter()
            try:
                self._http.get("/api/v1/tickets", params=self.QUERIES[i]).raise_for_status()
            except httpx.HTTPError as e:
                self.failed.append(f"{type(e).__name__}: {e}")
                self._stop.wait(0.5)
                continue
            self.calls.append((i, t0, time.perf_counter() - p0))
            i = (i + 1) % len(self.QUERIES)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self._http.close()


def _say(what: str) -> None:
    """Progress, on stderr (the figures go to stdout)."""
    print(f"{time.strftime('%H:%M:%S')} {what}", file=sys.stderr, flush=True)


def make_registry(o: Options) -> Registry:
    return sample_street(1, scale=o.scale) if o.size == "street" else sample_area(o.size)


def sweep_seconds(base: str) -> tuple[float, int]:
    """Sum and count of `cwatch_rules_sweep_seconds` from /metrics."""
    text = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=30).text
    total = re.search(r"^cwatch_rules_sweep_seconds_sum (\S+)", text, re.M)
    count = re.search(r"^cwatch_rules_sweep_seconds_count (\S+)", text, re.M)
    return (float(total.group(1)) if total else 0.0, int(float(count.group(1))) if count else 0)


def run(o: Options) -> dict[str, Any]:
    t_gen = time.perf_counter()
    ks = kinds(o.waits)
    p = plan(make_registry(o), ks, o.per_kind, o.storm, o.waits)
    gen_s = time.perf_counter() - t_gen
    out: dict[str, Any] = {"size": o.size, "devices": len(p.registry.devices), "generate_s": round(gen_s, 1)}
    out["households"] = len(p.registry.households)
    out["watched"] = sum(1 for h in p.registry.households.values() if h.care.watched)
    with tempfile.TemporaryDirectory(prefix="cwatch-latency-") as tmp:
        work = Path(tmp)
        save_registry(p.registry, work / "registry")
        write_rules(work / "rules.yaml", o.waits)
        targets = {d for ids in p.targets.values() for d in ids}
        write_stream(work / "stream.json", background(p.registry, targets))
        broker = MosquittoProcess(work / "mosquitto")
        influx = InfluxProcess(work / "influx")
        db = postgres.create_database()
        broker.start()
        influx.start()
        stack: list[Any] = []
        try:
            out.update(_measure(o, p, ks, work, broker, influx, postgres.url_for(db), stack))
        finally:
            for thing in reversed(stack):
                try:
                    thing()
                except Exception as e:  # a stop that fails must not hide the measurement's own error
                    print(f"cleanup: {type(e).__name__}: {e}", file=sys.stderr)
            broker.stop()
            influx.stop()
            postgres.drop_database(db)
    return out


def _measure(
    o: Options,
    p: Plan,
    ks: list[Kind],
    work: Path,
    broker: MosquittoProcess,
    influx: InfluxProcess,
    pg_url: str,
    stack: list[Any],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    http_port = free_port()
    cfg = work / "cwatch.toml"
    write_config(
        cfg,
        work=work,
        http_port=http_port,
        broker_port=broker.port,
        pg_url=pg_url,
        influx_url=influx.url,
        metrics_token=METRICS_TOKEN,
        registry_in_store=o.registry_in_store,
    )
    env = {**os.environ, "CWATCH_NEW_PASSWORD": PASSWORD}
    roles = {
        "street": (Role.STREET_DUTY, p.street),
        "community": (Role.COMMUNITY_DUTY, p.community),
        "leader": (Role.MICROGRID_LEADER, p.microgrid),
        "worker": (Role.GRID_WORKER, p.microgrid),
    }
    if o.registry_in_store:  # imported once, as `cwatch registry import` does, before the service starts
        t_import = time.time()
        made = subprocess.run(
            _cwatch(cfg, "registry", "import", str(work / "registry")), cwd=ROOT, capture_output=True, check=False
        )
        if made.returncode != 0:
            raise RuntimeError(f"registry import failed: {made.stderr.decode(errors='replace')[-2000:]}")
        out["registry_import_s"] = round(time.time() - t_import, 1)
    for name, (role, scope) in roles.items():  # one by one: the first creates the store's tables
        made = subprocess.run(
            _cwatch(cfg, "accounts", "add", f"bench-{name}", "--role", role.value, "--scope", scope),
            cwd=ROOT,
            env=env,
            capture_output=True,
            check=False,
        )
        if made.returncode != 0:
            raise RuntimeError(f"accounts add failed: {made.stderr.decode(errors='replace')[-2000:]}")

    log_path = work / "serve.log"
    log = log_path.open("wb")
    t_launch = time.time()
    serve = subprocess.Popen(_cwatch(cfg, "serve"), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def stop_serve() -> None:
        died = serve.poll()
        serve.terminate()
        serve.wait(timeout=120)
        log.close()
        if o.log is not None:
            shutil.copyfile(log_path, o.log)
        if died is not None:  # it ended by itself during the measurement: say why
            tail = log_path.read_text(errors="replace")[-3000:]
            print(f"cwatch serve exited with {died} during the run:\n{tail}", file=sys.stderr)

    stack.append(stop_serve)
    base = f"http://127.0.0.1:{http_port}"
    started_at: list[float] = []

    def ready() -> bool:
        if serve.poll() is not None:
            raise RuntimeError(f"cwatch serve exited: {log_path.read_text(errors='replace')[-3000:]}")
        if not started_at and "started:" in log_path.read_text(errors="replace"):
            started_at.append(time.time())
        try:
            return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, timeout=600, what="cwatch serve to be ready", interval=0.05)
    out["started_s"] = round((started_at[0] if started_at else time.time()) - t_launch, 2)
    ready_at = time.time()
    _say(f"cwatch serve (pid {serve.pid}) ready after {ready_at - t_launch:.1f} s")
    out["ready_s"] = round(ready_at - t_launch, 2)
    out["rss_ready_mib"] = round(rss_kib(serve.pid) / 1024)

    http = httpx.Client(base_url=base, timeout=30)
    tokens = {
        name: http.post("/api/v1/auth/login", json={"username": f"bench-{name}", "password": PASSWORD})
        .raise_for_status()
        .json()["token"]
        for name in roles
    }
    boards = {name: BoardClient(base, tokens[name], name) for name in roles}
    for b in boards.values():
        b.start()
        stack.append(b.stop)
    for b in boards.values():
        if not b.board.connected.wait(60):
            raise RuntimeError(f"the {b.board.role} board did not connect: {b.board.error}")

    all_topics = [topic(p.registry, d, k.channel) for k in ks for d in p.targets[k.name]]
    receipts = Receipts(broker.port, all_topics)
    stack.append(receipts.stop)
    load_args = ["--port", str(broker.port), "--rate", str(o.rate), "--stream", str(work / "stream.json")]
    load = subprocess.Popen(
        [sys.executable, "-m", "bench.latency.load", *load_args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    load_report: list[dict[str, Any]] = []

    def stop_load() -> None:
        if load.poll() is None:
            load.terminate()
        text, _ = load.communicate(timeout=60)
        load_report.extend(json.loads(line) for line in text.splitlines() if line.startswith("{"))

    stack.append(stop_load)
    assert load.stdout is not None
    load.stdout.readline()  # {"connected": true}
    # the background reaches its rate, and the service's live timers are no longer held back after it saw the
    # broker connection come up (`RuleRunner.resume_s`: the broker first delivers what it kept meanwhile)
    time.sleep(max(o.warmup_s, ready_at + RESUME_S - time.time()))
    pub = Publisher(broker.port)
    stack.append(pub.close)

    _say(f"the kinds: {o.per_kind} of each")
    # --- the five kinds, interleaved ---------------------------------------------------------------------------
    sent: dict[str, list[tuple[str, str, float]]] = {k.name: [] for k in ks}  # kind -> (device, topic, t)
    for i in range(o.per_kind):
        for k in ks:
            dev = p.targets[k.name][i]
            t = topic(p.registry, dev, k.channel)
            sent[k.name].append((dev, t, pub.send(t, {**k.body, "seq": 10_000 + i})))
            time.sleep(o.gap_s)
    street = boards["street"].board

    def alive() -> None:
        if serve.poll() is not None:
            raise RuntimeError(f"cwatch serve exited: {log_path.read_text(errors='replace')[-3000:]}")

    def all_done() -> bool:
        alive()
        return all(street.first(k.rule_id, d, k.done, t) is not None for k in ks for d, _, t in sent[k.name])

    longest = max(k.wait_s for k in ks)
    try:
        wait_until(all_done, timeout=longest + o.timeout_s, what="every ticket on the street board", interval=0.1)
    except TimeoutError as e:
        print(f"warning: {e}", file=sys.stderr)
    out["kinds"] = _kind_rows(ks, sent, boards, receipts)
    out["roles"] = _role_rows(ks, sent, boards)

    out["sweep_s_sum"], out["sweeps"] = sweep_seconds(base)
    out["rss_loaded_mib"] = round(rss_kib(serve.pid) / 1024)
    stop_load()
    stack.remove(stop_load)
    out["load"] = load_report[-1] if load_report else {}

    # --- the storm, on its own (a 2-core machine has no room for it beside the background) --------------------
    if o.storm:
        _say(f"the storm: {o.storm} alerts")
        out["storm"] = _storm(o, p, pub, boards["street"].board, base, tokens["street"], alive, serve.pid)
    out["rss_end_mib"] = round(rss_kib(serve.pid) / 1024)
    return out


def _kind_rows(
    ks: list[Kind],
    sent: dict[str, list[tuple[str, str, float]]],
    boards: dict[str, BoardClient],
    receipts: Receipts,
) -> list[dict[str, Any]]:
    street = boards["street"].board
    rows = []
    for k in ks:
        beyond, shown, base = [], [], []
        for dev, tp, t in sent[k.name]:
            done = street.first(k.rule_id, dev, k.done, t)
            if done is not None:
                beyond.append(done - t - k.wait_s)
            if k.shown and (s := street.first(k.rule_id, dev, k.shown, t)) is not None:
                shown.append(s - t)
            if (r := receipts.at.get(tp)) is not None:
                base.append(r - t)
        rows.append(
            {
                "kind": k.name,
                "n": len(sent[k.name]),
                "got": len(beyond),
                "wait_s": k.wait_s,
                "beyond_p50": percentile(beyond, 50),
                "beyond_p99": percentile(beyond, 99),
                "shown_p50": percentile(shown, 50),
                "shown_p99": percentile(shown, 99),
                "baseline_p50": percentile(base, 50),
                "baseline_p99": percentile(base, 99),
            }
        )
    return rows


def _role_rows(
    ks: list[Kind], sent: dict[str, list[tuple[str, str, float]]], boards: dict[str, BoardClient]
) -> list[dict[str, Any]]:
    rows = []
    for name, client in boards.items():
        beyond = []
        for k in ks:
            for dev, _, t in sent[k.name]:
                done = client.board.first(k.rule_id, dev, k.done, t)
                if done is not None:
                    beyond.append(done - t - k.wait_s)
        rows.append(
            {
                "role": name,
                "n": len(beyond),
                "p50": percentile(beyond, 50),
                "p99": percentile(beyond, 99),
                "resyncs": client.board.resyncs,
            }
        )
    return rows


def _storm(
    o: Options, p: Plan, pub: Publisher, board: Any, base: str, token: str, alive: Callable[[], None], pid: int
) -> dict[str, Any]:
    probe = GetProbe(base, token)
    probe.start()
    cpu_before = cpu_s(pid)
    resyncs_before = board.resyncs
    first = time.time()
    per_step = max(1, len(p.storm) // max(1, int(o.storm_s * 100)))  # about a hundred steps a second
    at: dict[str, float] = {}
    for i in range(0, len(p.storm), per_step):
        for dev in p.storm[i : i + per_step]:
            at[dev] = pub.send(topic(p.registry, dev, Channel.EVENT), {"event": "tamper", "seq": 20_000})
        pace = first + o.storm_s * (i + per_step) / len(p.storm)
        time.sleep(max(0.0, pace - time.time()))
    last = time.time()
    wanted = set(p.storm)
    seen: dict[str, float] = {}
    scanned = 0

    def all_on_board() -> bool:
        nonlocal scanned
        alive()
        sightings = board.sightings
        end = len(sightings)
        for s in sightings[scanned:end]:
            if s.rule_id == "device_tamper" and s.device_id in wanted and s.device_id not in seen:
                seen[s.device_id] = s.at
        scanned = end
        return len(seen) == len(wanted)

    try:
        wait_until(all_on_board, timeout=o.timeout_s + 60, what="the storm on the board", interval=0.1)
    except TimeoutError as e:
        print(f"warning: {e}", file=sys.stderr)
    cpu = cpu_s(pid) - cpu_before
    probe.stop()
    end = max(seen.values()) if seen else time.time()
    during = [s for q, t0, s in probe.calls if first <= t0 <= end and q == 0]
    during_page = [s for q, t0, s in probe.calls if first <= t0 <= end and q == 1]
    return {
        "alerts": len(wanted),
        "published_s": round(last - first, 2),
        "on_board": len(seen),
        "all_on_board_after_first_s": round(end - first, 2),
        "all_on_board_after_last_s": round(end - last, 2),
        "get_calls": len(during),
        "get_p50_s": percentile(during, 50),
        "get_p99_s": percentile(during, 99),
        "get_max_s": max(during) if during else float("nan"),
        "page_calls": len(during_page),
        "page_p50_s": percentile(during_page, 50),
        "page_p99_s": percentile(during_page, 99),
        "resyncs": board.resyncs - resyncs_before,
        "get_failed": len(probe.failed),
        "service_cpu_s": round(cpu, 2),
    }


def report(r: dict[str, Any]) -> str:
    lines = [
        f"{r['size']}: {r['devices']:,} devices, {r['households']:,} households, {r['watched']:,} watched "
        f"(generated in {r['generate_s']} s)",
        (f"registry imported beforehand in {r['registry_import_s']} s; " if "registry_import_s" in r else "")
        + f"start-up: `started:` after {r['started_s']} s, /readyz 200 after {r['ready_s']} s; "
        f"RSS {r['rss_ready_mib']} MiB when ready, {r['rss_loaded_mib']} MiB under the background load, "
        f"{r['rss_end_mib']} MiB at the end",
        f"background: {r['load'].get('rate', '-')} msg/s achieved ({r['load'].get('sent', '-')} messages)",
        f"rule sweeps: {r['sweeps']}, mean {fmt_s(r['sweep_s_sum'] / r['sweeps'], 3) if r['sweeps'] else '-'} s",
        "",
        table(
            [
                "kind",
                "n",
                "rule's wait (s)",
                "beyond the wait p50 (s)",
                "p99 (s)",
                "on the board (verifying) p50 / p99 (s)",
                "baseline: publish → mosquitto_sub p50 / p99 (s)",
            ],
            [
                [
                    k["kind"],
                    f"{k['got']}/{k['n']}",
                    f"{k['wait_s']:g}",
                    fmt_s(k["beyond_p50"]),
                    fmt_s(k["beyond_p99"]),
                    "-" if k["shown_p50"] != k["shown_p50"] else f"{fmt_s(k['shown_p50'])} / {fmt_s(k['shown_p99'])}",
                    f"{fmt_s(k['baseline_p50'], 3)} / {fmt_s(k['baseline_p99'], 3)}",
                ]
                for k in r["kinds"]
            ],
        ),
        "",
        table(
            ["board", "tickets seen", "beyond the wait p50 (s)", "p99 (s)", "resyncs"],
            [[x["role"], str(x["n"]), fmt_s(x["p50"]), fmt_s(x["p99"]), str(x["resyncs"])] for x in r["roles"]],
        ),
    ]
    s = r.get("storm")
    if s:
        lines += [
            "",
            f"storm: {s['alerts']:,} tamper alerts published in {s['published_s']} s; {s['on_board']:,} on the "
            f"street board {s['all_on_board_after_first_s']} s after the first publish "
            f"({s['all_on_board_after_last_s']} s after the last); {s['resyncs']} resyncs",
            f"GET /api/v1/tickets during it: {s['get_calls']} calls, p50 {fmt_s(s['get_p50_s'] * 1000, 0)} ms, "
            f"p99 {fmt_s(s['get_p99_s'] * 1000, 0)} ms, max {fmt_s(s['get_max_s'] * 1000, 0)} ms; a board's page "
            f"(?status=active&limit=500): {s['page_calls']} calls, p50 {fmt_s(s['page_p50_s'] * 1000, 0)} ms, "
            f"p99 {fmt_s(s['page_p99_s'] * 1000, 0)} ms; `cwatch serve` used {s['service_cpu_s']} s of CPU meanwhile",
        ]
    lines.append(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a smoke run: small street, 2 of each, a storm of 200")
    ap.add_argument("--size", choices=["street", "district"], help="the registry (street: the sample street)")
    ap.add_argument("--scale", type=int, help="buildings per micro-grid multiplied, for --size street")
    ap.add_argument("--per-kind", type=int, help="alerts of each kind")
    ap.add_argument("--rate", type=float, help="background telemetry, messages/s")
    ap.add_argument("--storm", type=int, help="alerts in the storm (0: none)")
    ap.add_argument("--storm-seconds", type=float, help="the storm is published over this long")
    ap.add_argument(
        "--registry-in-store",
        action="store_true",
        help="import the registry with `cwatch registry import` first; serve reads it from the store",
    )
    ap.add_argument("--log", type=Path, help="copy the service's log to this file at the end")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON line too")
    args = ap.parse_args(argv)
    o = Options() if not args.quick else QUICK
    changes = {
        "size": args.size,
        "scale": args.scale,
        "per_kind": args.per_kind,
        "rate": args.rate,
        "storm": args.storm,
        "storm_s": args.storm_seconds,
        "registry_in_store": args.registry_in_store or None,
        "log": args.log,
    }
    o = Options(**{**o.__dict__, **{k: v for k, v in changes.items() if v is not None}})
    r = run(o)
    print(report(r))
    if args.json:
        print(json.dumps(r))
    complete = all(k["got"] == k["n"] for k in r["kinds"])
    storm = r.get("storm")
    return 0 if complete and (not storm or storm["on_board"] == storm["alerts"]) else 1


if __name__ == "__main__":
    sys.exit(main())
