"""Manhole covers, trash bins, gas detectors and e-bike chargers: periodic telemetry with daily rhythms
(bins fill and are emptied, bikes charge at night) and the injected opened covers, bin fires, gas leaks and
overheating chargers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from devices.payloads import Channel
from simulator.groundtruth import Truth
from simulator.incidents import Incident
from simulator.models.base import DAY, DeviceContext, Out, merge, periodic, r
from simulator.seeding import rng_for


def _active(ctx: DeviceContext, kind: str, t: float) -> bool:
    return any(i.kind == kind and i.start <= t < i.end for i in ctx.incidents)


Make = Callable[[Incident, np.random.Generator], list[Out]]


def _incident_events(ctx: DeviceContext, make: Make) -> list[Out]:
    out: list[Out] = []
    for inc in ctx.incidents:
        rng = rng_for(ctx.seed, ctx.device.id, "incident", inc.index)
        out.extend(make(inc, rng))
    out.sort(key=lambda o: o[0])
    return [o for o in out if ctx.start <= o[0] < ctx.end]


def manhole_cover(ctx: DeviceContext) -> Iterator[Out]:
    rng = ctx.rng
    level0 = float(rng.uniform(-180, -60))
    battery0, drain = float(rng.uniform(50, 100)), float(rng.uniform(0.01, 0.03))
    interval = float(ctx.device.expected_interval_s)

    def tele() -> Iterator[Out]:
        for t in periodic(rng, ctx.start, ctx.end, interval, jitter=30):
            opened = _active(ctx, "manhole_open", t)
            body: dict[str, Any] = {
                "tilt_deg": r(rng.uniform(35, 70) if opened else rng.uniform(0.2, 2.5), 1),
                "water_level_cm": r(level0 + rng.normal(0, 3), 1),
                "open": opened,
                "battery_pct": r(max(0.0, battery0 - drain * (t - ctx.start) / DAY), 1),
            }
            yield t, Channel.TELEMETRY, body

    def make(inc: Incident, irng: np.random.Generator) -> list[Out]:
        if inc.kind != "manhole_open":
            return []
        tilt = r(irng.uniform(35, 70), 1)
        return [
            (inc.start, Channel.EVENT, {"event": "opened", "tilt_deg": tilt}),
            (inc.start + 1, Channel.TELEMETRY, {"tilt_deg": tilt, "open": True}),
            (inc.end, Channel.EVENT, {"event": "closed", "tilt_deg": r(irng.uniform(0.2, 2), 1)}),
        ]

    yield from merge(tele(), _incident_events(ctx, make))


def trash_bin(ctx: DeviceContext) -> Iterator[Out]:
    """Fill rises through the day, faster in the evening; the bin is emptied at about 07:00 and 19:00."""
    rng = ctx.rng
    rate = float(rng.uniform(2.0, 6.5))  # % per hour
    interval = float(ctx.device.expected_interval_s)

    def tele() -> Iterator[Out]:
        fill = float(rng.uniform(5, 40))
        last = ctx.start
        full_sent = False
        last_round: int | None = None
        for t in periodic(rng, ctx.start, ctx.end, interval, jitter=30):
            hour = ((t + 8 * 3600) % DAY) / 3600
            out: list[Out] = []
            collection_round = int((t + 8 * 3600 - 7 * 3600) // (DAY / 2))  # rounds at 07:00 and 19:00
            if last_round is not None and collection_round != last_round:
                fill = float(rng.uniform(0, 5))
                full_sent = False
                out.append((t - 1, Channel.EVENT, {"event": "emptied", "fill_pct": r(fill, 1)}))
            last_round = collection_round
            busy = 1.6 if 17 <= hour < 22 else (0.2 if hour < 6 else 1.0)
            fill = min(100.0, fill + rate * busy * (t - last) / 3600 * float(rng.uniform(0.6, 1.4)))
            last = t
            fire = _active(ctx, "trash_fire", t)
            temp = rng.uniform(120, 260) if fire else rng.normal(22, 4)
            out.append((t, Channel.TELEMETRY, {"fill_pct": r(fill, 1), "temperature_c": r(temp, 1)}))
            if r(fill, 1) >= 90 and not full_sent:
                full_sent = True
                out.append((t + 1, Channel.EVENT, {"event": "full", "fill_pct": r(fill, 1)}))
                ctx.truths.append(Truth.background("bin_full", "trash_full", ctx.device.id, "device", t, t + 60))
            yield from out

    def make(inc: Incident, irng: np.random.Generator) -> list[Out]:
        if inc.kind != "trash_fire":
            return []
        return [
            (inc.start, Channel.EVENT, {"event": "fire"}),
            (inc.start + 1, Channel.TELEMETRY, {"fill_pct": 60.0, "temperature_c": r(irng.uniform(150, 300), 1)}),
        ]

    yield from merge(tele(), _incident_events(ctx, make))


def gas_detector(ctx: DeviceContext) -> Iterator[Out]:
    rng = ctx.rng
    interval = float(ctx.device.expected_interval_s)

    def tele() -> Iterator[Out]:
        for t in periodic(rng, ctx.start, ctx.end, interval, jitter=30):
            if _active(ctx, "gas_leak", t):
                continue  # the leak's own readings (every 2 min) stand in for the hourly one
            hour = ((t + 8 * 3600) % DAY) / 3600
            cooking = 11 <= hour < 12.5 or 17.5 <= hour < 19.5
            lel = rng.uniform(0.5, 4.0) if cooking else rng.uniform(0.0, 1.2)
            co = rng.uniform(2, 12) if cooking else rng.uniform(0, 3)
            yield t, Channel.TELEMETRY, {"gas_lel_pct": r(lel, 1), "co_ppm": r(co, 1)}

    def make(inc: Incident, irng: np.random.Generator) -> list[Out]:
        if inc.kind != "gas_leak":
            return []
        out: list[Out] = [(inc.start, Channel.EVENT, {"event": "alarm", "gas_lel_pct": r(irng.uniform(28, 45), 1)})]
        t = inc.start + 60
        while t < inc.end:
            out.append((t, Channel.TELEMETRY, {"gas_lel_pct": r(irng.uniform(30, 60), 1), "co_ppm": 5.0}))
            t += 120
        out.append((inc.start + 20, Channel.EVENT, {"event": "valve_closed"}))
        out.append((inc.end, Channel.EVENT, {"event": "alarm_cleared", "gas_lel_pct": r(irng.uniform(1, 5), 1)}))
        return out

    yield from merge(tele(), _incident_events(ctx, make))


def ebike_charger(ctx: DeviceContext) -> Iterator[Out]:
    """Bikes plug in in the evening and charge for a few hours; telemetry every 5 min while charging."""
    rng = ctx.rng
    ports = int(rng.integers(2, 9))
    step = 300.0

    def sessions() -> Iterator[Out]:
        for m, _day in ctx.days():
            out: list[Out] = []
            for port in range(ports):
                if rng.random() > 0.55:
                    continue
                s = m + float(rng.choice([rng.uniform(17.5, 23.5), rng.uniform(7, 17)], p=[0.8, 0.2])) * 3600
                e = s + float(rng.uniform(1.5, 6.5)) * 3600
                power = float(rng.uniform(120, 420))
                out.append((s, Channel.EVENT, {"event": "started", "port": port}))
                t = s + step
                while t < e:
                    frac = (t - s) / (e - s)
                    p = power * (1.0 - 0.7 * frac)
                    body = {
                        "port": port,
                        "charging": True,
                        "power_w": r(p, 1),
                        "current_a": r(p / 48.0, 2),
                        "temperature_c": r(rng.uniform(28, 45), 1),
                    }
                    out.append((t, Channel.TELEMETRY, body))
                    t += step
                out.append((e, Channel.EVENT, {"event": "stopped", "port": port}))
            out.sort(key=lambda o: o[0])
            yield from (o for o in out if ctx.start <= o[0] < ctx.end)

    def make(inc: Incident, irng: np.random.Generator) -> list[Out]:
        if inc.kind != "charger_overheat":
            return []
        temp = r(irng.uniform(72, 95), 1)
        port = ports  # a port of its own so it does not interleave with a normal session
        return [
            (inc.start - 1800, Channel.EVENT, {"event": "started", "port": port}),
            (inc.start, Channel.EVENT, {"event": "overtemperature", "port": port, "temperature_c": temp}),
            (inc.start + 1, Channel.TELEMETRY, {"port": port, "charging": False, "temperature_c": temp}),
            (inc.end, Channel.EVENT, {"event": "stopped", "port": port}),
        ]

    yield from merge(sessions(), _incident_events(ctx, make))
