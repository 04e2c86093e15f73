"""What one message of background telemetry costs the service's CPU, stage by stage, at street and at district
size, in-process (no broker, no database server), each size in the same run:

    python -m bench.latency.district_costs [--messages 100000] [--rate 5000] [--sizes street,district]
                                           [--profile decode|spool|rules|lines|snapshot|zlib]

For each size it builds the sample registry (`devices.sample.sample_area`) and `bench.latency`'s background
stream (one telemetry message per device, round-robin, as `bench.latency.load` sends it) with `bench.latency`'s
rules, then runs the path the service takes: decode (`ingest.decode.Decoder`, as the ingester's intake), spool
append and read back ("rules" consumer, batches of 2,000), rules (`Engine.process` of a live engine, then
`advance_live` per batch, as `RuleRunner.on_readings`), line protocol (the telemetry drain's `lines`), and the
periodic work: the sweep (`Engine.advance`, every 15 s at `--rate`) and the state save every 30 s
(`Engine.snapshot` on the event loop, then zlib level 1, which the service runs in a worker thread).

One round of the stream goes through first (the running service has heard every device; its CPU per message,
each device's first, is shown apart), then `--messages` are timed, dated `1 / --rate` s apart. CPU is
`time.process_time` per message; the periodic work is shown per run and per message at `--rate`. `--profile`
prints cProfile's top functions of one stage at the last size. See docs/performance.md, "District: CPU per
message".
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.latency.setup import Waits, background, write_rules
from core.clock import ManualClock
from devices.reading import Reading
from devices.registry import Registry
from devices.sample import sample_area
from ingest.decode import Decoder
from ingest.lineprotocol import lines
from ingest.spool import Spool
from rules.config import load_ruleset
from rules.engine import Engine

STAGES = ("decode", "spool", "rules", "lines", "sweep", "snapshot", "zlib")
BATCH = 2000  # the rules consumer's batch (`IngestTuning.consumer_batch`)
SWEEP_S = 15.0  # `bench.latency`'s `sweep_every_s`
SAVE_S = 30.0  # `rules.checkpoint_every_s`


@dataclass
class Result:
    size: str
    devices: int
    us: dict[str, float] = field(default_factory=dict)  # stage -> CPU µs per message
    once_ms: dict[str, float] = field(default_factory=dict)  # periodic stage -> CPU ms per run
    notes: dict[str, Any] = field(default_factory=dict)


def _payloads(stream: list[tuple[str, dict[str, Any]]], start: int, n: int, t0: float, rate: float) -> list[Any]:
    """Messages `start` .. `start + n` of the round-robin stream: (topic, payload, device time)."""
    out = []
    k = len(stream)
    for i in range(start, start + n):
        topic, body = stream[i % k]
        ts = round(t0 + i / rate, 3)
        payload = json.dumps({**body, "ts": ts, "seq": i // k + 1}, separators=(",", ":")).encode()
        out.append((topic, payload, ts))
    return out


def _cpu(fn: Callable[[], Any]) -> float:
    gc.collect()
    t = time.process_time()
    fn()
    return time.process_time() - t


def measure(size: str, messages: int, rate: float, profile: str | None, work: Path) -> Result:
    reg: Registry = sample_area(size)
    gc.freeze()  # as `cwatch serve` does after start-up: the collector skips what start-up made
    stream = background(reg, ())
    w = Waits(smoke_pending_s=5, door_held_s=5, silent_interval_s=4)
    rules_path = work / f"rules-{size}.yaml"
    write_rules(rules_path, w)
    ruleset = load_ruleset(rules_path, reg)
    warm = len(stream)
    total = warm + messages
    t0 = time.time() - total / rate - 1
    clock = ManualClock(t0 + total / rate + 1)
    decoder = Decoder(reg, clock)
    engine = Engine(ruleset, reg, live_slack_s=1.0)
    res = Result(size, len(reg.devices))
    prof = cProfile.Profile() if profile else None

    def run(stage: str, fn: Callable[[], Any]) -> float:
        if prof is not None and stage == profile:
            prof.enable()
        try:
            return _cpu(fn)
        finally:
            if prof is not None and stage == profile:
                prof.disable()

    # warm: every device heard once, untimed (decoder routes, rule state per device, line protocol prefixes)
    warm_msgs = _payloads(stream, 0, warm, t0, rate)
    first = time.process_time()
    for i in range(0, warm, BATCH):
        batch = [
            r for tp, p, ts in warm_msgs[i : i + BATCH] for r in decoder.decode(tp, p, retain=False, received_at=ts)
        ]
        for r in batch:
            engine.process(r)
        engine.advance_live(batch[-1].received_at)
        lines(batch)  # the drain process's series prefixes
    res.notes["first round (decode, rules, lines)"] = f"{(time.process_time() - first) / warm * 1e6:.1f} us/message"
    del warm_msgs
    msgs = _payloads(stream, warm, messages, t0, rate)
    readings: list[Reading] = []

    def decode() -> None:
        dec = decoder.decode
        for tp, p, ts in msgs:
            readings.extend(dec(tp, p, retain=False, received_at=ts))

    res.us["decode"] = run("decode", decode) / messages * 1e6

    spool = Spool(work / f"spool-{size}.db", consumers=("telemetry", "rules"))
    read_back: list[Reading] = []

    def spool_path() -> None:
        for i in range(0, len(readings), 5000):
            spool.append(readings[i : i + 5000], clock.now())
            while items := spool.read("rules", BATCH):
                read_back.extend(r for _, r in items)
                spool.commit("rules", items[-1][0])

    res.us["spool"] = run("spool", spool_path) / messages * 1e6
    spool.close()

    sweeps: list[float] = []
    every_sweep = max(1, int(SWEEP_S * rate))
    alerts = 0

    def judge() -> None:
        nonlocal alerts
        process = engine.process
        next_sweep = every_sweep
        for i in range(0, len(read_back), BATCH):
            batch = read_back[i : i + BATCH]
            for r in batch:
                alerts += len(process(r))
            alerts += len(engine.advance_live(batch[-1].received_at))
            if i + BATCH >= next_sweep:  # timed apart: the sweep's own row
                next_sweep += every_sweep
                t = time.process_time()
                engine.advance(batch[-1].ts - engine.allowed_lateness_s)
                sweeps.append(time.process_time() - t)

    rules_cpu = run("rules", judge)
    res.us["rules"] = (rules_cpu - sum(sweeps)) / messages * 1e6
    res.notes["alerts"] = alerts
    if sweeps:
        res.once_ms["sweep"] = 1000 * sum(sweeps) / len(sweeps)
        res.us["sweep"] = res.once_ms["sweep"] / 1000 / (SWEEP_S * rate) * 1e6

    res.us["lines"] = run("lines", lambda: lines(readings)) / messages * 1e6

    data: list[bytes] = []
    res.once_ms["snapshot"] = 1000 * run("snapshot", lambda: data.append(engine.snapshot()))
    res.once_ms["zlib"] = 1000 * run("zlib", lambda: data.append(zlib.compress(data[0], 1)))
    for stage in ("snapshot", "zlib"):
        res.us[stage] = res.once_ms[stage] / 1000 / (SAVE_S * rate) * 1e6
    res.notes["snapshot MB (raw / zlib)"] = f"{len(data[0]) / 1e6:.1f} / {len(data[1]) / 1e6:.1f}"
    if prof is not None:
        print(f"\n--- cProfile of {profile!r}, {size} ---")
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--rate", type=float, default=5000.0, help="messages per second the periodic work is spread over")
    p.add_argument("--sizes", default="street,district")
    p.add_argument("--profile", choices=[s for s in STAGES if s != "sweep"])
    args = p.parse_args(argv)
    sizes = [s for s in args.sizes.split(",") if s]
    results = []
    with tempfile.TemporaryDirectory(prefix="cw-district-") as d:
        for i, size in enumerate(sizes):
            prof = args.profile if i == len(sizes) - 1 else None
            results.append(measure(size, args.messages, args.rate, prof, Path(d)))
            gc.unfreeze()
    print(f"\nCPU per message of background telemetry, µs ({args.messages} messages timed, periodic work at "
          f"{args.rate:g} msg/s; first size is the baseline)")  # fmt: skip
    head = f"{'stage':12}" + "".join(f"{r.size + f' ({r.devices})':>22}" for r in results)
    print(head)
    for stage in STAGES:
        row = f"{stage:12}" + "".join(f"{r.us.get(stage, float('nan')):22.2f}" for r in results)
        print(row)
    print(f"{'total':12}" + "".join(f"{sum(r.us.values()):22.2f}" for r in results))
    for r in results:
        once = ", ".join(f"{k} {v:.0f} ms" for k, v in r.once_ms.items())
        notes = ", ".join(f"{k} {v}" for k, v in r.notes.items())
        print(f"{r.size}: one run of {once}; {notes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
