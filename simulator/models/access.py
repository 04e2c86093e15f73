"""Access control: residents passing by hour of day, denied attempts and retries, tailgating, movers holding
the door, and the injected forced doors, held doors, bursts of failed face checks and duress codes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from devices.payloads import Channel
from simulator.groundtruth import Truth
from simulator.models.base import DAY, DeviceContext, Out, r
from simulator.seeding import rng_for

# share of a day's passages in each local hour (0-23): quiet nights, morning and evening peaks
_HOURLY_PCT = (0.4, 0.2, 0.1, 0.1, 0.1, 0.4, 2, 6.5, 8.5, 6, 4.5, 4.5, 5.5, 4.5, 4, 4.5, 5.5, 7.5, 9, 8, 6, 4.5, 2.5, 1)
HOURLY = np.array(_HOURLY_PCT, dtype=float)
HOURLY = HOURLY / HOURLY.sum()
FACE_GAP_S = 25.0
"""Seconds between the failed face checks of an injected burst (the 5th comes 4 gaps after the first)."""

_METHODS = ["face", "card", "app", "code", "qr"]
_METHOD_P = [0.6, 0.27, 0.06, 0.04, 0.03]


def access_control(ctx: DeviceContext) -> Iterator[Out]:
    rng = ctx.rng
    gate = "门" in ctx.device.label and "单元" not in ctx.device.label
    persons = max(1, ctx.served) * 2.6
    per_day = persons * (1.6 if gate else 2.2)
    creds = max(4, int(persons))
    door = ctx.device.label or "door"
    for m, day in ctx.days():
        out: list[Out] = []
        weekend = day.weekday() >= 5
        n = int(rng.poisson(per_day * (0.85 if weekend else 1.0)))
        hours = rng.choice(24, size=n, p=HOURLY)
        times = np.sort(m + hours * 3600.0 + rng.random(n) * 3600.0)
        methods = rng.choice(len(_METHODS), size=n, p=_METHOD_P)
        cred_ids = rng.integers(creds, size=n)
        u = rng.random(n)
        retry = rng.uniform(3, 15, size=n)
        inward = rng.random(n) < 0.55
        tail = rng.random(n) < 0.004
        for i in range(n):
            t = float(times[i])
            method = _METHODS[methods[i]]
            if u[i] < 0.015 and method == "face":  # mask or glasses: fails, then passes on retry
                out.append((t, Channel.EVENT, _ev("face_verification_failed", method, None, door)))
                t += float(retry[i])
            elif u[i] < 0.025:
                what = "unknown_card" if method == "card" else "denied"
                out.append((t, Channel.EVENT, _ev(what, method, None, door)))
                continue
            cred = f"{'f' if method == 'face' else 'c'}{int(cred_ids[i]):05x}"
            out.append((t, Channel.EVENT, _ev("granted", method, cred, door, "in" if inward[i] else "out")))
            if tail[i]:
                out.append((t + 4.0, Channel.EVENT, _ev("tailgating", None, None, door, "in")))
        # movers or deliveries hold the door for a while, below the 5-minute threshold
        if rng.random() < 0.15:
            t = m + float(rng.uniform(9, 17)) * 3600
            held = float(rng.uniform(60, 200))
            out.append((t, Channel.EVENT, {"event": "held_open", "door": door, "held_open_s": r(held, 0)}))
            out.append((t + held + float(rng.uniform(5, 60)), Channel.EVENT, {"event": "door_closed", "door": door}))
        if rng.random() < 0.03:
            t = m + float(rng.uniform(0.5, 4.5)) * 3600
            out.append((t, Channel.EVENT, {"event": "loitering", "door": door}))
        if rng.random() < ctx.background.tamper_per_week / 7:
            t = m + float(rng.uniform(0, DAY))
            out.append((t, Channel.EVENT, {"event": "tamper", "door": door}))
            ctx.truths.append(Truth.background("tamper", "device_tamper", ctx.device.id, "device", t, t + 60))
        out.extend(_incidents_on(ctx, m, m + DAY, door))
        out.sort(key=lambda o: o[0])
        yield from (o for o in out if ctx.start <= o[0] < ctx.end)


def _ev(event: str, method: str | None, cred: str | None, door: str, direction: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"event": event}
    if method:
        body["method"] = method
    if cred:
        body["credential"] = cred
    body["door"] = door
    if direction:
        body["direction"] = direction
    return body


def _incidents_on(ctx: DeviceContext, lo: float, hi: float, door: str) -> list[Out]:
    out: list[Out] = []
    for inc in ctx.incidents:
        if not lo <= inc.start < hi:
            continue
        rng = rng_for(ctx.seed, ctx.device.id, "incident", inc.index)
        s, e = inc.start, max(inc.end, inc.start + 1)
        if inc.kind == "door_forced":
            out.append((s, Channel.EVENT, {"event": "forced_open", "door": door}))
            out.append((e, Channel.EVENT, {"event": "door_closed", "door": door}))
        elif inc.kind == "door_held_open":
            out.append((s, Channel.EVENT, {"event": "held_open", "door": door, "held_open_s": 60.0}))
            t = s + 60.0
            while t < e:
                body = {"event": "held_open", "door": door, "held_open_s": r(t - s + 60.0, 0)}
                out.append((t, Channel.EVENT, body))
                t += 120.0
            out.append((e, Channel.EVENT, {"event": "door_closed", "door": door}))
        elif inc.kind == "face_fail_burst":
            for i in range(int(rng.integers(6, 9))):
                what = "liveness_failed" if i % 3 == 2 else "face_verification_failed"
                out.append((s + i * FACE_GAP_S, Channel.EVENT, _ev(what, "face", None, door)))
        elif inc.kind == "duress":
            out.append((s, Channel.EVENT, _ev("duress", "code", f"c{int(rng.integers(4096)):05x}", door, "in")))
    return out
