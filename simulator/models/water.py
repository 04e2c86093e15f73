"""Water meters: household routines turned into a cumulative register read at the meter's interval.

A household is a set of water uses (start, duration, litres/minute): toilet flushes, taps, showers, cooking,
laundry, night toilet visits, placed on the day by a routine (wake/sleep times, weekday/weekend, out at work)
that differs between households and varies from day to day. Lone elderly residents rise later some days and
use less water in smaller portions, but spread through the day. Incidents edit the use list: a fall removes
uses, a tap left running or a leak adds a long one. The meter reports the register (1 L resolution) and the
instantaneous flow at each reading; daily (NB-IoT) meters upload once a day with 24 hourly frozen readings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from devices.payloads import Channel
from simulator.groundtruth import Truth
from simulator.models.base import DAY, DeviceContext, Out, merge, periodic, r
from simulator.seeding import Rand, rng_for

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Routine:
    """A household's habits; drawn once per household."""

    persons: int
    elderly: bool
    workers: bool  # out at work on weekdays
    wake_h: float
    wake_weekend_h: float
    sleep_h: float
    scale: float  # households differ: some use much more than others
    late_rising_p: float


def routine_of(ctx: DeviceContext) -> Routine:
    hh = ctx.household
    rng = Rand(ctx.seed, hh.id if hh else ctx.device.id, "routine")
    lone = hh is not None and hh.care.lives_alone
    elderly = hh is not None and hh.care.elderly
    persons = 1 if lone else 1 + rng.pick([0.12, 0.33, 0.32, 0.18, 0.05])
    if elderly:
        return Routine(
            persons=persons,
            elderly=True,
            workers=False,
            wake_h=float(rng.normal(6.2, 0.4)),
            wake_weekend_h=float(rng.normal(6.4, 0.4)),
            sleep_h=float(rng.normal(21.3, 0.5)),
            scale=float(rng.lognormal(-0.45, 0.25)),
            late_rising_p=0.08,
        )
    return Routine(
        persons=persons,
        elderly=False,
        workers=bool(rng.random() < 0.8),
        wake_h=float(rng.normal(6.6, 0.4)),
        wake_weekend_h=float(rng.normal(8.0, 0.6)),
        sleep_h=float(rng.normal(23.0, 0.6)),
        scale=float(rng.lognormal(0.0, 0.4)),
        late_rising_p=0.05,
    )


class _Uses:
    def __init__(self) -> None:
        self.start: list[float] = []
        self.dur: list[float] = []
        self.lpm: list[float] = []

    def add(self, t: float, dur: float, lpm: float) -> None:
        self.start.append(t)
        self.dur.append(dur)
        self.lpm.append(lpm)


def _slot_time(rng: Rand, slots: list[tuple[float, float]], weights: list[float]) -> float:
    lo, hi = slots[rng.pick(weights)]
    return lo + rng.random() * max(hi - lo, 60.0)


def household_uses(ctx: DeviceContext, rt: Routine) -> _Uses:
    """Every water use of the household over the period (before incidents)."""
    rng = Rand(ctx.seed, ctx.device.id, "uses")
    uses = _Uses()
    p, k = rt.persons, rt.scale
    for m, day in ctx.days():
        weekend = day.weekday() >= 5
        wake = m + HOUR * ((rt.wake_weekend_h if weekend else rt.wake_h) + rng.normal(0, 0.3))
        if rng.random() < rt.late_rising_p:
            wake += HOUR * rng.uniform(1.5, 3.0)
        sleep = m + HOUR * (rt.sleep_h + rng.normal(0, 0.4))
        morning = (wake, wake + 1.5 * HOUR)
        daytime = (wake + 1.5 * HOUR, m + 18 * HOUR)
        evening = (m + 18 * HOUR, sleep)
        slots = [morning, daytime, evening]
        if rt.elderly:
            weights = [0.3, 0.45, 0.25]
        elif rt.workers and not weekend:
            weights = [0.38, 0.07, 0.55]
        else:
            weights = [0.25, 0.35, 0.4]
        # toilet flushes (~6 L): on getting up, before bed, and through the day; taps (hands, teeth, kettle)
        for _ in range(p):
            uses.add(wake + rng.uniform(0, 600), rng.uniform(35, 55), rng.uniform(7.0, 9.0))
            if rng.random() < 0.9:
                uses.add(sleep - rng.uniform(0, 900), rng.uniform(35, 55), rng.uniform(7.0, 9.0))
        for _ in range(rng.poisson((5.0 if rt.elderly else 3.2) * p)):
            uses.add(_slot_time(rng, slots, weights), rng.uniform(35, 55), rng.uniform(7.0, 9.0))
        for _ in range(rng.poisson((6.0 if rt.elderly else 7.0) * p * k)):
            uses.add(_slot_time(rng, slots, weights), rng.uniform(15, 80), rng.uniform(2.5, 6.0))
        # showers: mostly evening
        for _ in range(p):
            if rng.random() < (0.4 if rt.elderly else 0.75):
                win = evening if rng.random() < 0.8 else morning
                t = rng.uniform(*win) if win[1] > win[0] else win[0]
                dur = rng.uniform(240, 480) if rt.elderly else rng.uniform(360, 780)
                uses.add(t, dur * k, rng.uniform(6.0, 9.5))
        # cooking and dishes: breakfast, (lunch at home), dinner
        meals = [wake + rng.uniform(0.2, 0.8) * HOUR, m + rng.uniform(17.5, 19.3) * HOUR]
        if weekend or rt.elderly or not rt.workers:
            meals.append(m + rng.uniform(11.2, 12.6) * HOUR)
        for t in meals:
            for _ in range(rng.integers(1, 4) if rt.elderly else rng.integers(2, 5)):
                uses.add(t, rng.uniform(40, 160) * k, rng.uniform(3.0, 5.5))
                t += rng.uniform(60, 600)
        # washing up after dinner and after lunch at home
        for meal, p_wash in zip(meals[1:], (0.9, 0.8), strict=False):
            if rng.random() < p_wash:
                uses.add(meal + rng.uniform(1200, 2700), rng.uniform(150, 360) * k, rng.uniform(3.0, 5.0))
        # elderly residents wash (and soak their feet, 泡脚) before bed
        if rt.elderly and rng.random() < 0.85:
            uses.add(
                rng.uniform(m + 19.5 * HOUR, max(m + 19.6 * HOUR, sleep)), rng.uniform(180, 420), rng.uniform(2.0, 4.0)
            )
        # laundry: three fills over an hour
        if rng.random() < (0.15 if rt.elderly else (0.45 if weekend else 0.25)):
            t = rng.uniform(wake + HOUR, m + 20.5 * HOUR)
            for fill in range(3):
                uses.add(t + fill * rng.uniform(900, 1500), rng.uniform(70, 110), 10.0)
        # night toilet visits
        for _ in range(p):
            if rng.random() < (0.6 if rt.elderly else 0.25):
                uses.add(m + rng.uniform(1.0, 5.0) * HOUR, rng.uniform(35, 55), 8.0)
    return uses


def _apply_incidents(ctx: DeviceContext, uses: _Uses) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s, d, q = np.array(uses.start), np.array(uses.dur), np.array(uses.lpm)
    keep = np.ones(len(s), dtype=bool)
    hh = ctx.household
    if hh is not None and hh.care.away_until is not None:
        away_end = hh.care.away_until.timestamp()
        keep &= ~(s < away_end)  # away (travel, hospital) from before the period until away_until
    for inc in ctx.incidents_of("elderly_fall"):
        keep &= ~((s + d > inc.start) & (s < inc.end))
    # a fall stops use already under way
    s, d, q = s[keep], d[keep], q[keep]
    extra_s, extra_d, extra_q = [], [], []
    for inc in ctx.incidents_of("tap_left_running", "water_leak"):
        irng = rng_for(ctx.seed, ctx.device.id, "incident", inc.index)
        lpm = float(irng.uniform(4.0, 8.0)) if inc.kind == "tap_left_running" else float(irng.uniform(0.4, 1.2))
        extra_s.append(inc.start)
        extra_d.append(max(60.0, inc.end - inc.start))
        extra_q.append(lpm)
    if extra_s:
        s = np.concatenate([s, extra_s])
        d = np.concatenate([d, extra_d])
        q = np.concatenate([q, extra_q])
    order = np.argsort(s, kind="stable")
    return s[order], d[order], q[order]


def volume_and_flow(
    times: np.ndarray, s: np.ndarray, d: np.ndarray, q: np.ndarray, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Litres used by time T and the flow (L/min) at T, for each reading time."""
    vol = np.zeros(len(times))
    flow = np.zeros(len(times))
    for i in range(0, len(times), chunk):
        t = times[i : i + chunk, None]
        el = t - s[None, :]
        vol[i : i + chunk] = (np.clip(el, 0.0, d[None, :]) * q[None, :]).sum(axis=1) / 60.0
        flow[i : i + chunk] = (((el >= 0) & (el < d[None, :])) * q[None, :]).sum(axis=1)
    return vol, flow


def water_meter(ctx: DeviceContext) -> Iterator[Out]:
    rt = routine_of(ctx)
    uses = household_uses(ctx, rt) if ctx.device.household_id else _Uses()
    s, d, q = _apply_incidents(ctx, uses)
    register0 = float(ctx.rng.uniform(20.0, 900.0)) * 1000.0  # litres
    if ctx.registers is not None:  # a run that follows another: the register goes on where it ended
        register0 = ctx.registers.get(ctx.device.id, register0)
        ctx.registers[ctx.device.id] = register0 + float(volume_and_flow(np.array([ctx.end]), s, d, q)[0][0])
    interval = float(ctx.device.expected_interval_s)
    leaks = ctx.incidents_of("water_leak")
    events: list[Out] = []
    for inc in leaks:
        events.append((inc.start, Channel.EVENT, {"event": "leak"}))
        if inc.end < ctx.end:
            events.append((inc.end, Channel.EVENT, {"event": "leak_cleared"}))
    if ctx.rng.random() < ctx.background.tamper_per_week * (ctx.end - ctx.start) / (7 * DAY):
        t = float(ctx.rng.uniform(ctx.start, ctx.end))
        events.append((t, Channel.EVENT, {"event": "tamper"}))
        ctx.truths.append(Truth.background("tamper", "device_tamper", ctx.device.id, "device", t, t + 60))

    def leak_at(t: float) -> bool:
        return any(i.start <= t < i.end for i in leaks)

    events.sort(key=lambda o: o[0])
    readings = _periodic_readings if interval < DAY else _daily_uploads
    yield from merge(readings(ctx, s, d, q, register0, leak_at), events)


def _periodic_readings(
    ctx: DeviceContext, s: np.ndarray, d: np.ndarray, q: np.ndarray, register0: float, leak_at: Callable[[float], bool]
) -> Iterator[Out]:
    """Readings every interval, computed one day at a time so a week of a street never sits in memory."""
    interval = float(ctx.device.expected_interval_s)
    times = np.array(periodic(ctx.rng, ctx.start, ctx.end, interval, jitter=min(20.0, interval / 20)))
    per_chunk = max(1, int(DAY // interval))
    for i in range(0, len(times), per_chunk):
        chunk = times[i : i + per_chunk]
        vol, flow = volume_and_flow(chunk, s, d, q)
        for t, v, f in zip(chunk, vol, flow, strict=True):
            body: dict[str, Any] = {"volume_m3": r((register0 + v) / 1000.0, 3), "flow_lpm": r(f, 1)}
            if leak_at(float(t)):
                body["leak"] = True
            yield float(t), Channel.TELEMETRY, body


def _daily_uploads(
    ctx: DeviceContext, s: np.ndarray, d: np.ndarray, q: np.ndarray, register0: float, leak_at: Callable[[float], bool]
) -> Iterator[Out]:
    """NB-IoT style: one upload a day with the previous 24 hourly frozen readings."""
    upload_h = float(ctx.rng.uniform(0.5, 6.0))
    for m, _day in ctx.days():
        t = m + upload_h * HOUR + float(ctx.rng.uniform(-120, 120))
        if not ctx.start <= t < ctx.end:
            continue
        hours = np.floor(t / HOUR) * HOUR - HOUR * np.arange(23, -1, -1)
        vol, flow = volume_and_flow(np.append(hours, t), s, d, q)
        frozen = [
            {"ts": float(h), "volume_m3": r((register0 + v) / 1000.0, 3)}
            for h, v in zip(hours, vol[:-1], strict=True)
            if h >= ctx.start
        ]
        body: dict[str, Any] = {"volume_m3": r((register0 + vol[-1]) / 1000.0, 3), "flow_lpm": r(flow[-1], 1)}
        if leak_at(t):
            body["leak"] = True
        if frozen:
            body["frozen"] = frozen
        yield t, Channel.TELEMETRY, body
