"""The background load of `bench.latency`: normal telemetry at a steady rate, in its own process.

    python -m bench.latency.load --port 1883 --rate 5000 --stream stream.json

`stream.json` is a list of `[topic, body]`: one per device, round-robin. Each message is the body with the
device time of the moment it is sent and the device's next `seq`, published at QoS 1 (gmqtt, PUBACKs not
awaited one by one). It runs until SIGTERM or SIGINT, then prints one JSON line: messages sent, seconds and
the achieved rate (a loaded machine may not reach the asked one)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import gmqtt

TICK_S = 0.01


async def run(port: int, rate: float, stream: list[tuple[str, dict[str, Any]]]) -> dict[str, float]:
    client = gmqtt.Client(f"bench-load-{time.monotonic_ns()}")
    await client.connect("127.0.0.1", port, keepalive=60)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"connected": True}), flush=True)
    seqs = [0] * len(stream)
    sent = 0
    i = 0
    owed = 0.0  # messages due and not sent; at most a tenth of a second's worth, so a stalled publisher
    t0 = last = time.monotonic()  # sends less instead of catching up in a burst, and its rate shows it
    while not stop.is_set():
        tick = time.monotonic()
        owed = min(owed + (tick - last) * rate, rate / 10)
        last = tick
        now = round(time.time(), 3)
        while owed >= 1:
            owed -= 1
            topic, body = stream[i]
            seqs[i] += 1
            payload = json.dumps({**body, "ts": now, "seq": seqs[i]}, separators=(",", ":"))
            client.publish(topic, payload.encode(), qos=1)
            sent += 1
            i = (i + 1) % len(stream)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TICK_S)
    seconds = time.monotonic() - t0
    await client.disconnect()
    return {"sent": sent, "seconds": round(seconds, 3), "rate": round(sent / seconds, 1) if seconds else 0.0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--rate", type=float, default=5000.0, help="messages per second")
    p.add_argument("--stream", type=Path, required=True, help="JSON list of [topic, body], one per device")
    args = p.parse_args(argv)
    stream = [(str(t), dict(b)) for t, b in json.loads(args.stream.read_text(encoding="utf-8"))]
    if not stream:
        p.error(f"{args.stream}: no devices")
    print(json.dumps(asyncio.run(run(args.port, args.rate, stream))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
