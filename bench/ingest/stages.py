"""CPU per message of each ingest stage, one stage at a time: `python -m bench.ingest.stages [--messages N]`.

No broker and no database server: each stage runs on the benchmark's stream in this process and is timed with
`time.process_time`, so the figures hold up better than end-to-end rates on a busy machine. The spool append's
wall time (which includes fsync) is printed too. See docs/performance.md, section "Ingest".
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.ingest.run import make_stream
from core.clock import SystemClock
from devices.reading import Reading
from devices.sample import sample_street
from ingest.decode import Decoder
from ingest.lineprotocol import lines
from ingest.spool import Spool
from ingest.transport import InboundMessage, _Client


def _cpu(n: int, fn: Callable[[], Any]) -> float:
    t = time.process_time()
    fn()
    return (time.process_time() - t) / n * 1e6


def _transport(stream: list[tuple[str, bytes]], batch: int = 5000) -> tuple[float, float]:
    """Transport cost per message: PUBLISH parse, message, batch future, PUBACK bytes; fast and gmqtt parsers."""

    class Conn:
        def is_closing(self) -> bool:
            return False

        def send_package(self, data: bytes) -> None:
            pass

    packets = []
    for i, (topic, payload) in enumerate(stream):
        t = topic.encode()
        packets.append(len(t).to_bytes(2, "big") + t + (i % 65000 + 1).to_bytes(2, "big") + b"\x00" + payload)

    async def run() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        current: list[Any] = [None, 0]

        def handler(_m: InboundMessage) -> asyncio.Future[None]:
            if current[0] is None or current[1] >= batch:
                current[0], current[1] = loop.create_future(), 0
                futures.append(current[0])
            current[1] += 1
            fut: asyncio.Future[None] = current[0]
            return fut

        client = _Client("bench", handler, time.time, v5=True)
        client._package_handler._connection = Conn()
        out = []
        for parse in (client._on_publish, client._gmqtt_publish):
            futures.clear()
            current[0] = None
            t = time.process_time()
            for p in packets:
                parse(0x32, p)
            for f in futures:
                f.set_result(None)
            await asyncio.sleep(0)
            out.append((time.process_time() - t) / len(packets) * 1e6)
        return out[0], out[1]

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ingest.stages")
    p.add_argument("--messages", type=int, default=100_000)
    n = p.parse_args(argv).messages
    stream = make_stream(n)
    decoder = Decoder(sample_street(1), SystemClock())
    readings: list[Reading] = []

    def decode() -> None:
        for topic, payload in stream:
            readings.extend(decoder.decode(topic, payload, retain=False, received_at=time.time()))

    for topic, payload in stream[:7000]:  # warm the topic routing cache, as a running ingester has
        decoder.decode(topic, payload, retain=False, received_at=time.time())
    results: dict[str, float] = {}
    results["transport (fast parse)"], results["transport (gmqtt parse)"] = _transport(stream)
    results["decode"] = _cpu(n, decode)
    with tempfile.TemporaryDirectory(prefix="cw-stages-") as d:
        spool = Spool(Path(d) / "spool.db", tail_readings=0)
        wall = time.perf_counter()
        results["spool append"] = _cpu(n, lambda: [spool.append(readings[i : i + 5000]) for i in range(0, n, 5000)])
        results["spool append, wall incl. fsync"] = (time.perf_counter() - wall) / n * 1e6

        def read_all() -> None:
            while items := spool.read("telemetry", 5000):
                spool.commit("telemetry", items[-1][0])

        results["spool read from disk"] = _cpu(n, read_all)
        spool.close()
    ok: list[tuple[Reading, str]] = []
    results["line protocol"] = _cpu(n, lambda: ok.extend(lines(readings)[0]))
    body = "\n".join(line for _, line in ok).encode()
    results["gzip level 1"] = _cpu(n, lambda: gzip.compress(body, compresslevel=1))
    for name, us in results.items():
        print(f"{name:34} {us:6.2f} us/message")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
