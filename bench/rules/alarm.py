"""Time from a smoke detector's `alarm` to the board (verifying) and to its critical ticket, through the service.

    python -m bench.rules.alarm [--alarms 5] [--gap 2] [--timeout 900]

Starts a real Mosquitto on a free port and `cwatch serve` (this checkout, SQLite store and telemetry, the
sample street, the shipped rules) as a child process, publishes `--alarms` smoke `alarm` events of different
detectors with `mosquitto_pub` (QoS 1, device time = the publish moment), and polls `GET /api/v1/tickets`
every 50 ms until each detector's `smoke_alarm` ticket is there and confirmed. Printed per alarm: publish to
receipt by a `mosquitto_sub` on the same broker (the same-run baseline: what the broker and the process start
of `mosquitto_pub` cost), publish to the ticket's first listing (verifying, during the rule's own wait),
publish to the confirmed ticket, and that minus the wait (`pending`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from devices.csvio import save_registry
from devices.model import DeviceClass, Role
from devices.sample import sample_street
from devices.topics import PREFIX, topic_for
from rules.config import EventRule, default_ruleset_path, load_ruleset
from testkit.services import MosquittoProcess, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "bench-alarm-password"


def _config(work: Path, http_port: int, broker_port: int) -> Path:
    cfg = work / "cwatch.toml"
    cfg.write_text(
        f"""
data_dir = "{work / "data"}"
log_level = "WARNING"
[http]
port = {http_port}
[mqtt]
url = "mqtt://127.0.0.1:{broker_port}"
client_id = "cwatch-bench-alarm"
[telemetry]
backend = "sqlite"
[registry]
path = "{work / "registry"}"
""",
        encoding="utf-8",
    )
    return cfg


def _cwatch(cfg: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cwatch.cli", "-c", str(cfg), *args]


class Receipts:
    """`mosquitto_sub` on the event topics: when each topic's message reached a subscriber."""

    def __init__(self, port: int) -> None:
        self.at: dict[str, float] = {}
        self.proc = subprocess.Popen(
            ["stdbuf", "-oL", "mosquitto_sub", "-p", str(port), "-q", "1", "-t", f"{PREFIX}/+/+/event", "-F", "%t"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.at.setdefault(line.strip(), time.time())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--alarms", type=int, default=5)
    p.add_argument("--gap", type=float, default=2.0, help="seconds between two alarms")
    p.add_argument("--timeout", type=float, default=900.0, help="give up on a ticket after this many seconds")
    args = p.parse_args(argv)

    reg = sample_street(1)
    wait_s = next(r for r in load_ruleset(default_ruleset_path(), reg).rules if r.id == "smoke_alarm")
    assert isinstance(wait_s, EventRule)
    pending = wait_s.pending
    detectors = [d for d in reg.devices.values() if d.device_class is DeviceClass.SMOKE_DETECTOR][: args.alarms]
    street = next(iter(reg.streets))

    with tempfile.TemporaryDirectory(prefix="cwatch-alarm-") as tmp:
        work = Path(tmp)
        save_registry(reg, work / "registry")
        broker = MosquittoProcess(work / "mosquitto")
        broker.start()
        http_port = free_port()
        cfg = _config(work, http_port, broker.port)
        env = {**os.environ, "CWATCH_NEW_PASSWORD": PASSWORD}
        subprocess.run(
            _cwatch(cfg, "accounts", "add", "bench", "--role", Role.STREET_DUTY.value, "--scope", street),
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        log = (work / "serve.log").open("wb")
        serve = subprocess.Popen(_cwatch(cfg, "serve"), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        receipts = Receipts(broker.port)
        try:
            base = f"http://127.0.0.1:{http_port}"

            def ready() -> bool:
                if serve.poll() is not None:
                    raise RuntimeError(f"cwatch serve exited: {(work / 'serve.log').read_text()[-2000:]}")
                try:
                    return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(ready, timeout=120, what="cwatch serve to be ready")
            client = httpx.Client(base_url=base, timeout=10)
            token = client.post("/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}

            published: dict[str, tuple[str, float]] = {}
            shown_at: dict[str, float] = {}  # listed at all: verifying while the wait runs
            ticket_at: dict[str, float] = {}  # confirmed

            def poll() -> None:
                """One look at the tickets (every 50 ms, also between publishes: the board time is seconds)."""
                items: list[dict[str, Any]] = client.get("/api/v1/tickets", headers=headers).json()["items"]
                now = time.time()
                for it in items:
                    if it["rule_id"] == "smoke_alarm" and it["device_id"] in published:
                        shown_at.setdefault(it["device_id"], now)
                        if not it["verifying"]:
                            ticket_at.setdefault(it["device_id"], now)
                time.sleep(0.05)

            for i, d in enumerate(detectors):
                placement = reg.placement(d.id)
                assert placement is not None
                topic = topic_for(placement.community_id, d.id, "event")
                t = time.time()
                payload = json.dumps({"ts": round(t, 3), "seq": 1, "event": "alarm"})
                pub = ["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", topic, "-m", payload]
                subprocess.run(pub, check=True)
                published[d.id] = (topic, t)
                paced = time.time() + (args.gap if i < len(detectors) - 1 else 0)
                while time.time() < paced:  # a pace for the publisher, polling meanwhile
                    poll()

            deadline = time.time() + args.timeout
            while len(ticket_at) < len(published) and time.time() < deadline:
                poll()
        finally:
            receipts.stop()
            serve.terminate()
            serve.wait(timeout=60)
            log.close()
            broker.stop()

    print(f"smoke alarm to critical ticket, rule wait (pending) {pending:g} s, {len(published)} alarms")
    columns = ["detector", "publish → mosquitto_sub (s)", "publish → on the board (s)", "publish → ticket (s)"]
    print("| " + " | ".join([*columns, "beyond the wait (s)"]) + " |")
    print("| --- | ---: | ---: | ---: | ---: |")
    beyond: list[float] = []
    for dev, (topic, t) in published.items():
        got = receipts.at.get(topic)
        rec = f"{got - t:.3f}" if got is not None else "-"
        shown = f"{shown_at[dev] - t:.2f}" if dev in shown_at else "-"
        if dev in ticket_at:
            b = ticket_at[dev] - t - pending
            beyond.append(b)
            print(f"| {dev} | {rec} | {shown} | {ticket_at[dev] - t:.2f} | {b:.2f} |")
        else:
            print(f"| {dev} | {rec} | {shown} | none within {args.timeout:g} s | - |")
    if shown_at:
        board = [shown_at[d] - published[d][1] for d in shown_at]
        print(f"on the board: min {min(board):.2f} s, max {max(board):.2f} s")
    if beyond:
        print(f"beyond the wait: min {min(beyond):.2f} s, max {max(beyond):.2f} s")
    return 0 if len(beyond) == len(published) else 1


if __name__ == "__main__":
    sys.exit(main())
