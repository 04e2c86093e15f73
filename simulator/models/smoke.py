"""Smoke detectors: daily heartbeats with a draining battery, nuisance alarms from cooking (household
detectors), rare faults and tampering, and real fires whose smoke keeps rising until put out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from devices.payloads import Channel
from simulator.groundtruth import Truth
from simulator.models.base import DAY, DeviceContext, Out, battery_at, merge, poisson_times, r
from simulator.seeding import rng_for

LOW_BATTERY_PCT = 15.0


def smoke_detector(ctx: DeviceContext) -> Iterator[Out]:
    rng = ctx.rng
    dev = ctx.device
    # most batteries are healthy; a few are near the end of their life
    level0 = float(rng.uniform(40, 100)) if rng.random() > 0.01 else float(rng.uniform(14.5, 16.5))
    drain = float(rng.uniform(0.01, 0.05))
    ctx.status = lambda t: {"state": "heartbeat", "battery_pct": r(battery_at(t, ctx.start, level0, drain), 1)}
    out: list[Out] = []
    # the low-battery warning, once, when the battery crosses the threshold during the period
    if level0 > LOW_BATTERY_PCT:
        t_low = ctx.start + (level0 - LOW_BATTERY_PCT) / drain * DAY
        if t_low < ctx.end:
            out.append((t_low, Channel.EVENT, {"event": "low_battery"}))
            ctx.truths.append(Truth.background("low_battery", "low_battery", dev.id, "device", t_low, t_low + 60))
    else:  # already low: every heartbeat says so, and the device warns once during the first day
        t_low = ctx.start + float(rng.uniform(0, DAY))
        out.append((t_low, Channel.EVENT, {"event": "low_battery"}))
        ctx.truths.append(Truth.background("low_battery", "low_battery", dev.id, "device", ctx.start, ctx.end))
    if dev.household_id:
        for t in poisson_times(rng, ctx.start, ctx.end, ctx.background.smoke_nuisance_per_day):
            out.extend(_nuisance(ctx, _meal_time(ctx, t)))
    weeks = (ctx.end - ctx.start) / (7 * DAY)
    if rng.random() < ctx.background.smoke_fault_per_week * weeks:
        t = float(rng.uniform(ctx.start, ctx.end))
        out.append((t, Channel.STATUS, {"state": "fault", "detail": "sensor chamber fault"}))
        out.append((t + float(rng.uniform(1800, 6 * 3600)), Channel.STATUS, {"state": "fault_cleared"}))
    if rng.random() < ctx.background.tamper_per_week * weeks:
        t = float(rng.uniform(ctx.start, ctx.end))
        out.append((t, Channel.EVENT, {"event": "tamper"}))
        out.append((t + float(rng.uniform(60, 900)), Channel.EVENT, {"event": "tamper_cleared"}))
        ctx.truths.append(Truth.background("tamper", "device_tamper", dev.id, "device", t, t + 60))
    for inc in ctx.incidents_of("kitchen_fire"):
        out.extend(_fire(ctx, inc.index, inc.start, inc.end))
    out.sort(key=lambda o: o[0])
    yield from merge(o for o in out if ctx.start <= o[0] < ctx.end)


def _meal_time(ctx: DeviceContext, t: float) -> float:
    """Move a random time to the nearest cooking window of that day (breakfast, lunch, dinner)."""
    day0 = t - ((t + 8 * 3600) % DAY)
    rng = ctx.rng
    window = rng.choice([0, 1, 2, 2, 2])
    lo, hi = ((6.5, 8.0), (11.0, 12.5), (17.0, 19.5))[int(window)]
    return day0 + float(rng.uniform(lo, hi)) * 3600


def _nuisance(ctx: DeviceContext, t: float) -> list[Out]:
    """Burnt toast or a steaming wok: a short alarm the resident silences."""
    rng = ctx.rng
    pct = r(rng.uniform(4.0, 9.0), 1)
    end = t + float(rng.uniform(40, 360))
    out: list[Out] = [
        (t, Channel.EVENT, {"event": "alarm", "smoke_obscuration_pct": pct}),
    ]
    if rng.random() < 0.5:
        out.append((t + float(rng.uniform(10, 30)), Channel.EVENT, {"event": "silenced"}))
    out.append((end, Channel.EVENT, {"event": "alarm_cleared", "smoke_obscuration_pct": r(rng.uniform(0.2, 1.5), 1)}))
    return out


def _fire(ctx: DeviceContext, index: int, start: float, end: float) -> list[Out]:
    """A real fire: the alarm is never silenced; smoke and heat rise, reported every 30 s."""
    rng = rng_for(ctx.seed, ctx.device.id, "incident", index)
    out: list[Out] = [(start, Channel.EVENT, {"event": "alarm", "smoke_obscuration_pct": r(rng.uniform(12, 18), 1)})]
    t = start + 30.0
    pct, temp = 15.0, 28.0
    while t < min(end, start + 1800):
        pct = min(100.0, pct + float(rng.uniform(0.5, 3.0)))
        temp = min(180.0, temp + float(rng.uniform(0.3, 2.5)))
        body: dict[str, Any] = {"smoke_obscuration_pct": r(pct, 1), "temperature_c": r(temp, 1)}
        out.append((t, Channel.TELEMETRY, body))
        t += 30.0
    out.append((end, Channel.EVENT, {"event": "alarm_cleared", "smoke_obscuration_pct": r(rng.uniform(0.5, 2), 1)}))
    return out
