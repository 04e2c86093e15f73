"""The households as a street of lone elderly residents, their readings decoded by the ingester's `Decoder`,
and a replay through `rules.engine.Engine` as the rule runner drives it.

Every household is a watched lone elderly resident (lives alone, elderly, consented) with quiet hours
22:00-06:00 and one water meter that reports hourly (`expected_interval_s` 3600). A reading is published as
protocol v1 water telemetry (`{"ts": <epoch s>, "volume_m3": <register / 1000>}`) on the meter's topic and
decoded exactly as the ingester does; the engine judges the readings in time order and is advanced every
minute of event time minus the allowed lateness (300 s), as `RuleRunner` does in the service.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import time

import msgspec

from bench.care.data import Household
from core.clock import ManualClock
from devices.model import (
    Building,
    CareProfile,
    Community,
    Device,
    DeviceClass,
    Grid,
    MicroGrid,
    QuietHours,
    Street,
)
from devices.model import Household as Home
from devices.payloads import Channel
from devices.reading import Reading
from devices.registry import Registry
from devices.topics import topic_for
from ingest.decode import Decoder
from ingest.refusals import Refused
from rules.alert import Alert
from rules.config import RuleSet
from rules.engine import Engine

COMMUNITY = "c-care"
CARE = CareProfile(lives_alone=True, elderly=True, consent=True, quiet_hours=QuietHours(time(22), time(6)))
LATENESS_S = 300.0
SWEEP_S = 60.0


def household_id(key: str) -> str:
    return "h-" + key.split("-")[0]


def meter_id(key: str) -> str:
    return "WM-" + key.split("-")[0]


def street(keys: Iterable[str]) -> Registry:
    """One community, one micro-grid, one building per 10 households; every household watched."""
    keys = sorted(keys)
    homes, devices, buildings = [], [], []
    for i, k in enumerate(keys):
        b = f"b{i // 10}"
        if i % 10 == 0:
            buildings.append(Building(b, b, "mg-care", 6))
        homes.append(Home(household_id(k), b, str(i), 1, CARE))
        devices.append(Device(meter_id(k), DeviceClass.WATER_METER, b, household_id(k), 3600))
    return Registry(
        streets=[Street("s-care", "care")],
        communities=[Community(COMMUNITY, "care", "s-care")],
        grids=[Grid("g-care", "care", COMMUNITY)],
        microgrids=[MicroGrid("mg-care", "care", "g-care")],
        buildings=buildings,
        households=homes,
        devices=devices,
    )


class _Payload(msgspec.Struct):
    ts: float
    volume_m3: float


def decode(registry: Registry, households: Iterable[Household], transport_s: float = 0.0) -> tuple[list[Reading], int]:
    """Every reading of `households` as the ingester decodes it, received `transport_s` after its time, in time
    order; and how many were refused."""
    clock = ManualClock(0.0)
    decoder = Decoder(registry, clock)
    enc = msgspec.json.Encoder()
    out: list[Reading] = []
    refused = 0
    for h in households:
        topic = topic_for(COMMUNITY, meter_id(h.key), Channel.TELEMETRY)
        for ts, litres in zip(h.ts.tolist(), h.litres.tolist(), strict=True):
            clock.set(ts + transport_s)
            payload = enc.encode(_Payload(ts, round(litres / 1000.0, 6)))
            try:
                out.extend(decoder.decode(topic, payload, retain=False, received_at=ts + transport_s))
            except Refused:
                refused += 1
    out.sort(key=lambda r: r.ts)
    return out, refused


@dataclass(frozen=True)
class Emitted:
    """An alert and the moment it went out (event time of the reading or sweep that produced it; the alert's
    own `ts` is when its condition fell due, which can be earlier)."""

    alert: Alert
    at: float


@dataclass
class Replay:
    alerts: list[Emitted]
    failures: int


def replay(ruleset: RuleSet, registry: Registry, readings: list[Reading], tz: str, sweep_s: float = SWEEP_S) -> Replay:
    """The alerts of the engine fed `readings` in order and advanced every `sweep_s` of event time to that time
    minus the allowed lateness. Alerts are dated in event time, so they do not depend on `sweep_s` (only the
    moment a timer's alert goes out can be up to one sweep later)."""
    eng = Engine(ruleset, registry, tz=tz, allowed_lateness_s=LATENESS_S)
    out: list[Emitted] = []
    if not readings:
        return Replay(out, 0)
    eng.start_at(readings[0].ts)
    nxt = readings[0].ts + sweep_s
    for r in readings:
        while nxt <= r.ts:
            out.extend(Emitted(a, nxt) for a in eng.advance(nxt - LATENESS_S))
            nxt += sweep_s
        out.extend(Emitted(a, r.ts) for a in eng.process(r))
    out.extend(Emitted(a, readings[-1].ts + LATENESS_S) for a in eng.advance(readings[-1].ts))
    return Replay(out, eng.failures)
