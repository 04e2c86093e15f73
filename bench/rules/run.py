"""Rule engine benchmark, each figure against a baseline measured in the same run.

    python -m bench.rules [--hours 6] [--households 100000] [--json] [--quick]

1. Cost per event: the sample street at scale 2 (about 12,000 devices) generates `--hours` of realistic
   traffic (simulator); every message is decoded by the ingester's `Decoder` (the baseline: what it already
   costs to turn the same bytes into a `Reading`), then the readings go through `Engine.process` with 50 rules
   (the 26 default rules plus 24 scoped and scheduled variants); then the same readings through a live engine
   (`live_slack_s`) ticked (`advance_live`) every second of receipt time, as the service's runner does.
2. One sweep over `--households` watched households, each with an hourly water meter, rules `elderly_no_water`
   and `device_offline`: the time of `Engine.advance` when nothing is due (a normal minute) and when every
   household falls due at once (100,000 absence alerts released at the end of quiet hours and 100,000 meters
   offline), against a plain Python scan of the same households (the baseline: the cheapest possible full scan).

Times are CPU time of the benchmark process (`time.process_time`), best of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import sys
import time
from datetime import datetime, timedelta, timezone
from datetime import time as dtime
from typing import Any

import yaml

from core.clock import ManualClock
from devices.model import (
    Building,
    CareProfile,
    Community,
    Device,
    DeviceClass,
    Grid,
    Household,
    MicroGrid,
    QuietHours,
    Street,
)
from devices.payloads import Channel
from devices.reading import Reading
from devices.registry import Registry
from devices.sample import sample_street
from ingest.decode import Decoder
from ingest.refusals import Refused
from rules.config import default_ruleset_path, parse_ruleset
from rules.engine import Engine
from simulator.generate import Simulation
from simulator.scenario import Scenario

CST = timezone(timedelta(hours=8))
# CPU time of this process: the development machines are shared, and wall time would measure the neighbours
_clock = time.process_time
START = datetime(2026, 3, 2, tzinfo=CST)


def _extra_rules(registry: Registry, n: int) -> list[dict[str, Any]]:
    """`n` more rules of every message kind, scoped to communities and micro-grids, some with schedules."""
    communities = sorted(registry.communities)
    microgrids = sorted(registry.microgrids)
    out: list[dict[str, Any]] = []
    i = 0
    while len(out) < n:
        c = communities[i % len(communities)]
        m = microgrids[i % len(microgrids)]
        templates: list[dict[str, Any]] = [
            {
                "kind": "event",
                "device_class": "access_control",
                "match": [{"event": ["tailgating", "climbing", "blocklist_hit"]}],
                "scope": {"communities": [c]},
            },
            {
                "kind": "threshold",
                "device_class": "gas_detector",
                "field": "co_ppm",
                "op": ">=",
                "value": 50 + i,
                "clear_value": 20,
                "scope": {"microgrids": [m]},
            },
            {
                "kind": "count",
                "device_class": "ai_camera",
                "match": [{"event": "garbage_dumped", "where": {"confidence": {"gte": 0.7}}}],
                "threshold": 5,
                "window": "1h",
                "scope": {"communities": [c]},
            },
            {
                "kind": "threshold",
                "device_class": "trash_bin",
                "field": "temperature_c",
                "op": ">=",
                "value": 60,
                "clear_value": 40,
                "schedule": {"hours": ["06:00-22:00"]},
            },
            {
                "kind": "duration",
                "device_class": "ebike_charger",
                "start": [{"channel": "telemetry", "where": {"power_w": {"gte": 800}}}],
                "stop": [{"channel": "telemetry", "where": {"power_w": {"lt": 800}}}],
                "for": "4h",
                "scope": {"communities": [c]},
            },
            {
                "kind": "event",
                "device_class": "ai_camera",
                "match": [{"event": "intrusion", "where": {"confidence": {"gte": 0.85}}}],
                "schedule": {"days": ["sat", "sun"], "hours": ["00:00-06:00"]},
            },
        ]
        t = templates[i % len(templates)]
        out.append({"id": f"extra_{i:02d}", "title": f"extra {i}", "severity": "minor", **t})
        i += 1
    return out


def ruleset_50(registry: Registry) -> Any:
    base = yaml.safe_load(default_ruleset_path().read_text(encoding="utf-8"))
    base["rules"] += _extra_rules(registry, 50 - len(base["rules"]))
    return parse_ruleset(yaml.safe_dump(base, allow_unicode=True), registry)


def _best(samples: list[float]) -> float:
    return min(samples)


def per_event(hours: float, repeat: int) -> dict[str, Any]:
    registry = sample_street(1, start=START.date(), days=2, scale=2)
    scenario = Scenario(name="bench", seed=7, start=START, hours=hours)
    messages = list(Simulation(registry, scenario).messages())
    rules = ruleset_50(registry)
    clock = ManualClock(START.timestamp())
    decoder = Decoder(registry, clock)

    decode_s: list[float] = []
    readings: list[Reading] = []
    for _ in range(repeat):
        readings = []
        gc.collect()
        t = _clock()
        for m in messages:
            clock.set(m.ts)
            with contextlib.suppress(Refused):
                readings.extend(decoder.decode(m.topic, m.payload, retain=False, received_at=m.ts))
        decode_s.append(_clock() - t)
    engine_s: list[float] = []
    alerts = 0
    for _ in range(repeat):
        eng = Engine(rules, registry)
        gc.collect()
        t = _clock()
        n = 0
        for r in readings:
            n += len(eng.process(r))
        engine_s.append(_clock() - t)
        alerts = n
    live_s: list[float] = []
    live_alerts = 0
    for _ in range(repeat):
        live = Engine(rules, registry, live_slack_s=1.0)
        gc.collect()
        t = _clock()
        n = 0
        second = float("-inf")
        for r in readings:
            if r.received_at >= second + 1:  # the runner ticks after each batch; about one a second
                second = r.received_at
                n += len(live.advance_live(second))
            n += len(live.process(r))
        live_s.append(_clock() - t)
        live_alerts = n
    snap_t = _clock()
    snap = eng.snapshot()
    snap_s = _clock() - snap_t
    restore_t = _clock()
    Engine.restore(snap, rules, registry)
    restore_s = _clock() - restore_t
    return {
        "devices": len(registry.devices),
        "rules": len(rules.rules),
        "messages": len(messages),
        "readings": len(readings),
        "alerts": alerts,
        "decode_us_per_message": _best(decode_s) / len(messages) * 1e6,
        "decode_us_per_reading": _best(decode_s) / len(readings) * 1e6,
        "engine_us_per_reading": _best(engine_s) / len(readings) * 1e6,
        "live_us_per_reading": _best(live_s) / len(readings) * 1e6,
        "live_alerts": live_alerts,
        "snapshot_bytes": len(snap),
        "snapshot_ms": snap_s * 1e3,
        "restore_ms": restore_s * 1e3,
    }


SWEEP_RULES = """
rules:
  - id: elderly_no_water
    kind: absence
    title: No water
    severity: major
    scope: {household_tags: [watched]}
  - id: device_offline
    kind: heartbeat
    title: Offline
    severity: minor
    device_class: water_meter
    offline_after: {water_meter: 3h}  # every meter falls due in the same sweep as the absences (not a day)
"""


def big_registry(households: int) -> Registry:
    care = CareProfile(lives_alone=True, elderly=True, consent=True, quiet_hours=QuietHours(dtime(22), dtime(6)))
    per_b, per_mg = 100, 10
    n_b = (households + per_b - 1) // per_b
    n_mg = (n_b + per_mg - 1) // per_mg
    return Registry(
        streets=[Street("s", "s")],
        communities=[Community("c", "c", "s")],
        grids=[Grid("g", "g", "c")],
        microgrids=[MicroGrid(f"mg{i}", "m", "g") for i in range(n_mg)],
        buildings=[Building(f"b{i}", "b", f"mg{i // per_mg}") for i in range(n_b)],
        households=[Household(f"h{i}", f"b{i // per_b}", str(i), 1, care) for i in range(households)],
        devices=[Device(f"w{i}", DeviceClass.WATER_METER, f"b{i // per_b}", f"h{i}", 3600) for i in range(households)],
    )


def _meter(registry: Registry, i: int, ts: float, volume: float) -> Reading:
    """A meter reading as the decoder builds it: ids are the registry's own strings."""
    d = registry.device(f"w{i}")
    p = registry.placement(f"w{i}")
    assert d is not None
    assert p is not None
    return Reading(
        d.id,
        DeviceClass.WATER_METER,
        Channel.TELEMETRY,
        ts,
        None,
        {"volume_m3": volume},
        p.community_id,
        p.microgrid_id,
        p.building_id,
        p.household_id,
    )


def sweep(households: int) -> dict[str, Any]:
    t = _clock()
    registry = big_registry(households)
    build_s = _clock() - t
    rules = parse_ruleset(SWEEP_RULES, registry)
    eng = Engine(rules, registry, allowed_lateness_s=0)
    day = START.timestamp()
    # 11:00 a reading, 12:00 a use (due at 00:00, inside quiet hours), 00:30 a reading that proves the absence
    feed = [(day + 11 * 3600, 10.0), (day + 12 * 3600, 10.05), (day + 24.5 * 3600, 10.05)]
    feed_s = 0.0
    for ts, vol in feed:
        batch = [_meter(registry, i, ts, vol) for i in range(households)]
        gc.collect()
        t = _clock()
        for r in batch:
            eng.process(r)
        feed_s += _clock() - t
    gc.collect()
    t = _clock()
    idle = eng.advance(day + 24.5 * 3600 + 60)
    idle_s = _clock() - t
    gc.collect()
    t = _clock()
    due = eng.advance(day + 30 * 3600 + 60)  # 06:01: quiet hours over, every meter silent for 5.5 h
    due_s = _clock() - t
    # baseline: the cheapest full scan of the same households in plain Python
    last_use = {f"h{i}": day + 12 * 3600 for i in range(households)}
    last_seen = {f"w{i}": day + 24.5 * 3600 for i in range(households)}
    now = day + 30 * 3600 + 60
    gc.collect()
    t = _clock()
    hits = 0
    for i in range(households):
        if now - last_use[f"h{i}"] > 12 * 3600:
            hits += 1
        if now - last_seen[f"w{i}"] > 3 * 3600:
            hits += 1
    scan_s = _clock() - t
    return {
        "households": households,
        "registry_build_s": build_s,
        "feed_us_per_reading": feed_s / (len(feed) * households) * 1e6,
        "idle_sweep_ms": idle_s * 1e3,
        "idle_alerts": len(idle),
        "due_sweep_ms": due_s * 1e3,
        "due_alerts": len(due),
        "scan_baseline_ms": scan_s * 1e3,
        "scan_hits": hits,
    }


def report(ev: dict[str, Any], sw: dict[str, Any]) -> str:
    ratio = ev["engine_us_per_reading"] / ev["decode_us_per_reading"]
    return "\n".join(
        [
            f"Per event: {ev['devices']} devices, {ev['rules']} rules, {ev['messages']} messages -> "
            f"{ev['readings']} readings, {ev['alerts']} alerts",
            "",
            "| step | µs per reading |",
            "| --- | --- |",
            f"| baseline: ingest `Decoder.decode` of the same messages | {ev['decode_us_per_reading']:.2f} |",
            f"| `Engine.process` (50 rules) | {ev['engine_us_per_reading']:.2f} |",
            f"| ratio engine / decode | {ratio:.2f} |",
            f"| the same live (`live_slack_s`, `advance_live` every second of receipt; {ev['live_alerts']} alerts) "
            f"| {ev['live_us_per_reading']:.2f} |",
            f"| ratio live / event time only | {ev['live_us_per_reading'] / ev['engine_us_per_reading']:.2f} |",
            "",
            f"Snapshot of that engine: {ev['snapshot_bytes'] / 1e6:.2f} MB, encoded in {ev['snapshot_ms']:.0f} ms, "
            f"restored in {ev['restore_ms']:.0f} ms.",
            "",
            f"Sweep: {sw['households']} watched households, one hourly meter each "
            f"(registry built in {sw['registry_build_s']:.1f} s; {sw['feed_us_per_reading']:.2f} µs per meter reading)",
            "",
            "| sweep | ms | alerts |",
            "| --- | --- | --- |",
            f"| nothing due (a normal minute) | {sw['idle_sweep_ms']:.2f} | {sw['idle_alerts']} |",
            f"| every household due at once | {sw['due_sweep_ms']:.0f} | {sw['due_alerts']} |",
            f"| baseline: a plain Python scan of them | {sw['scan_baseline_ms']:.0f} | {sw['scan_hits']} |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.rules", description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=6.0, help="hours of street traffic for the per-event figure")
    p.add_argument("--households", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=3, help="take the best of this many runs")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.add_argument("--quick", action="store_true", help="tiny sizes, to check the benchmark runs")
    a = p.parse_args(argv)
    if a.quick:
        a.hours, a.households, a.repeat = 0.25, 2_000, 1
    ev = per_event(a.hours, a.repeat)
    sw = sweep(a.households)
    if a.json:
        print(json.dumps({"per_event": ev, "sweep": sw}, indent=2))
    else:
        print(report(ev, sw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
