"""AI cameras. What a camera reports depends on what it looks at (`simulator.roles`): facade cameras see
birds, leaves and rain as low-confidence thrown objects (more on rain days) and, when injected, real ones
with the floor estimated; fire-lane cameras see delivery vans stop for a few minutes; elevator cameras see
prams and the occasional real e-bike; shed cameras mistake dust and steam for smoke."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from devices.payloads import Channel
from simulator.groundtruth import Truth
from simulator.models.base import DAY, DeviceContext, Out, poisson_times, r
from simulator.roles import CameraRole, camera_role
from simulator.seeding import rng_for


def ai_camera(ctx: DeviceContext) -> Iterator[Out]:
    role = camera_role(ctx.device)
    n = [0]
    for m, _day in ctx.days():
        out: list[Out] = []
        rainy = ctx.day_number(m + 43_200) in ctx.background.rain_days
        _background(ctx, role, m, rainy, out, n)
        _incidents(ctx, m, out, n)
        out.sort(key=lambda o: o[0])
        yield from (o for o in out if ctx.start <= o[0] < ctx.end)


def _event(
    ctx: DeviceContext, n: list[int], event: str, conf: float, state: str = "pulse", **extra: Any
) -> dict[str, Any]:
    rng = ctx.rng
    n[0] += 1
    x, y = float(rng.uniform(0.05, 0.8)), float(rng.uniform(0.05, 0.8))
    body: dict[str, Any] = {
        "event": event,
        "state": state,
        "confidence": r(conf, 3),
        "object_id": f"o{n[0]}",
        "bbox": [r(x, 3), r(y, 3), r(rng.uniform(0.02, 0.19), 3), r(rng.uniform(0.02, 0.19), 3)],
        "snapshot_url": f"{ctx.media_base}/snap/{ctx.device.id}/{n[0]}.jpg",
    }
    body.update(extra)
    return body


def _daytime(ctx: DeviceContext, m: float, rate: float, lo_h: float = 6.0, hi_h: float = 19.0) -> list[float]:
    return poisson_times(ctx.rng, m + lo_h * 3600, m + hi_h * 3600, rate * DAY / ((hi_h - lo_h) * 3600))


def _background(ctx: DeviceContext, role: CameraRole, m: float, rainy: bool, out: list[Out], n: list[int]) -> None:
    rng = ctx.rng
    fp = ctx.background.camera_false_positives_per_day * (4.0 if rainy else 1.0)
    if role is CameraRole.FACADE:
        for t in _daytime(ctx, m, fp):
            # birds, leaves, clothes flapping, rain streaks: mostly low confidence, now and then not
            conf = float(rng.uniform(0.81, 0.86)) if rng.random() < 0.03 else float(rng.uniform(0.25, 0.75))
            out.append((t, Channel.EVENT, _event(ctx, n, "thrown_object", conf)))
    elif role is CameraRole.FIRE_LANE:
        for t in _daytime(ctx, m, 2.0, 8.0, 20.0):  # deliveries: a few minutes
            stop = t + float(rng.uniform(90, 420))
            conf = float(rng.uniform(0.82, 0.95))
            oid = f"v{int(rng.integers(1 << 20)):05x}"
            out.append((t, Channel.EVENT, _event(ctx, n, "fire_lane_blocked", conf, "start", object_id=oid)))
            out.append((stop, Channel.EVENT, _event(ctx, n, "fire_lane_blocked", conf, "stop", object_id=oid)))
    elif role is CameraRole.ELEVATOR:
        for t in _daytime(ctx, m, 1.0, 7.0, 22.0):  # prams, wheelchairs, shopping trolleys
            out.append((t, Channel.EVENT, _event(ctx, n, "ebike_in_elevator", float(rng.uniform(0.3, 0.7)))))
        for t in _daytime(ctx, m, 0.15, 18.0, 23.0):  # a real e-bike taken upstairs to charge
            out.append((t, Channel.EVENT, _event(ctx, n, "ebike_in_elevator", float(rng.uniform(0.85, 0.97)))))
            ctx.truths.append(
                Truth.background("ebike_in_elevator", "ebike_in_elevator", ctx.device.id, "device", t, t + 60)
            )
    elif role is CameraRole.SHED:
        for t in _daytime(ctx, m, 0.3 * (2.0 if rainy else 1.0), 0.0, 24.0):  # dust, steam, headlights
            out.append((t, Channel.EVENT, _event(ctx, n, "smoke_fire", float(rng.uniform(0.3, 0.65)))))
        for t in _daytime(ctx, m, 0.5, 18.0, 23.5):
            out.append((t, Channel.EVENT, _event(ctx, n, "ebike_charging_indoor", float(rng.uniform(0.6, 0.9)))))
    else:
        for t in _daytime(ctx, m, 1.5, 6.0, 23.0):
            out.append((t, Channel.EVENT, _event(ctx, n, "garbage_dumped", float(rng.uniform(0.5, 0.95)))))
        if rng.random() < 0.05:
            t = m + float(rng.uniform(0.5, 4.5)) * 3600
            out.append((t, Channel.EVENT, _event(ctx, n, "intrusion", float(rng.uniform(0.6, 0.9)))))


def _incidents(ctx: DeviceContext, m: float, out: list[Out], n: list[int]) -> None:
    for inc in ctx.incidents:
        if not m <= inc.start < m + DAY:
            continue
        rng = rng_for(ctx.seed, ctx.device.id, "incident", inc.index)
        s, e = inc.start, max(inc.end, inc.start + 1)
        conf = float(np.round(rng.uniform(0.86, 0.98), 3))
        if inc.kind == "thrown_object":
            floor = inc.floor or 10
            out.append((s, Channel.EVENT, _event(ctx, n, "thrown_object", conf, estimated_floor=floor)))
        elif inc.kind == "fire_lane_blocked":
            oid = f"v{int(rng.integers(1 << 20)):05x}"
            out.append((s, Channel.EVENT, _event(ctx, n, "fire_lane_blocked", conf, "start", object_id=oid)))
            out.append((e, Channel.EVENT, _event(ctx, n, "fire_lane_blocked", conf, "stop", object_id=oid)))
        elif inc.kind == "ebike_in_elevator":
            out.append((s, Channel.EVENT, _event(ctx, n, "ebike_in_elevator", conf)))
        elif inc.kind == "shed_smoke":  # the stop names the object that started, as a tracking camera does
            oid = f"s{int(rng.integers(1 << 20)):05x}"
            out.append((s, Channel.EVENT, _event(ctx, n, "smoke_fire", conf, "start", object_id=oid)))
            out.append((e, Channel.EVENT, _event(ctx, n, "smoke_fire", conf, "stop", object_id=oid)))
