"""Statistics of the water model against stated bands, from the meters' own readings.

Bands (urban China, the domestic-use literature in docs/simulator.md): 80-200 L per person per day for
ordinary households (median), 50-140 L a day for lone elderly residents (median); the morning (06-09 h)
and evening (18-23 h) peaks hold most of the use and the small hours (01-05 h) very little; weekends start
later; a watched resident uses water at least every 8 hours between 09:00 and 20:00 on normal days."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict

import numpy as np
import pytest

from devices.model import DeviceClass
from devices.registry import Registry
from simulator.generate import Simulation
from simulator.models.water import household_uses, routine_of
from tests.simulator.conftest import scenario

HOUR = 3600


@pytest.fixture(scope="module")
def week(street: Registry) -> Simulation:
    return Simulation(street, scenario(seed=21, days=7))


def _hourly_meters(sim: Simulation, n: int) -> list[str]:
    meters = [d.id for d in sim.world.by_class[DeviceClass.WATER_METER] if d.expected_interval_s == HOUR]
    return meters[:n]


def test_daily_use_per_person_and_hour_profile_from_meter_readings(week: Simulation) -> None:
    ids = _hourly_meters(week, 300)
    readings: dict[str, list[tuple[float, float]]] = defaultdict(list)
    came_back: set[str] = set()  # devices with a network outage (they say "online" afterwards)
    for m in week.messages(ids):
        body = json.loads(m.payload)
        if "volume_m3" in body and m.topic.endswith("/telemetry"):
            readings[m.topic.split("/")[2]].append((m.ts, body["volume_m3"]))
        elif body.get("state") == "online":
            came_back.add(m.topic.split("/")[2])
    per_person, elderly, hourly = [], [], np.zeros(24)
    for dev_id, rows in readings.items():
        if dev_id in came_back:
            continue
        t = np.array([r[0] for r in rows])
        v = np.array([r[1] for r in rows]) * 1000.0
        assert np.all(np.diff(v) >= 0), "the register never runs backwards"
        assert np.all(np.diff(t) < HOUR + 60), "hourly meters report every hour"
        ctx = week.context(week.world.devices[dev_id])
        rt = routine_of(ctx)
        daily = (v[-1] - v[0]) / ((t[-1] - t[0]) / 86_400)
        h = ctx.household
        if h is not None and h.care.lives_alone and h.care.elderly:
            if h.care.away_until is None:
                elderly.append(daily)
        else:
            per_person.append(daily / rt.persons)
            hours = ((t[1:] + 8 * HOUR) % 86_400 // HOUR).astype(int)
            np.add.at(hourly, (hours - 1) % 24, np.diff(v))  # use in the hour before each reading
    assert 80 <= float(np.median(per_person)) <= 200
    assert 50 <= float(np.median(elderly)) <= 140
    share = hourly / hourly.sum()
    assert share[6:9].sum() > 0.15  # morning peak
    assert share[18:23].sum() > 0.35  # evening peak
    assert share[1:5].sum() < 0.04  # night
    # households differ: the spread between the 10th and 90th percentile is at least 2x
    assert np.percentile(per_person, 90) / np.percentile(per_person, 10) > 2.0


def test_watched_residents_use_water_every_few_hours_while_awake(week: Simulation) -> None:
    gaps = []
    for h in week.world.households.values():
        if not h.care.watched or h.care.away_until is not None:
            continue
        meter = week.world.meter_of(h.id)
        assert meter is not None
        ctx = week.context(meter)
        starts = np.sort(np.array(household_uses(ctx, routine_of(ctx)).start))
        for day in range(7):
            m = week.start + day * 86_400
            lo, hi = m + 9 * HOUR, m + 20 * HOUR
            pts = np.concatenate([[lo], starts[(starts >= lo) & (starts < hi)], [hi]])
            gaps.append(np.diff(pts).max() / HOUR)
    assert len(gaps) > 1000
    assert np.percentile(gaps, 50) < 5.0
    assert max(gaps) < 9.0


def test_daily_meters_upload_once_a_day_with_24_hourly_frozen_readings(street: Registry) -> None:
    sim = Simulation(street, scenario(seed=4, days=3))
    ids = [d.id for d in sim.world.by_class[DeviceClass.WATER_METER] if d.expected_interval_s == 86_400][:50]
    uploads: dict[str, int] = defaultdict(int)
    for m in sim.messages(ids):
        body = json.loads(m.payload)
        uploads[m.topic.split("/")[2]] += 1
        frozen = body.get("frozen", [])
        ts = [f["ts"] for f in frozen]
        assert ts == sorted(ts)
        assert all(b - a == HOUR for a, b in itertools.pairwise(ts))
        assert len(frozen) == 24 or abs(ts[0] - sim.start) <= 300  # the first day starts with the scenario
    assert set(uploads.values()) <= {2, 3}


def test_a_tap_left_running_shows_flow_across_readings_for_more_than_two_hours(street: Registry) -> None:
    sim = Simulation(street, scenario(days=1, incidents=[{"kind": "tap_left_running", "at": "day 1 10:00"}]))
    inc = sim.incidents[0]
    flows = [
        (m.ts, json.loads(m.payload)["flow_lpm"])
        for m in sim.device_messages(inc.device_id)
        if m.topic.endswith("/telemetry")
    ]
    running = [t for t, f in flows if inc.start <= t < inc.end]
    assert len(running) >= 2
    assert running[-1] - running[0] >= 2 * HOUR
    assert all(f > 0 for t, f in flows if inc.start <= t < inc.end)


def test_an_elderly_fall_stops_water_use(street: Registry) -> None:
    sim = Simulation(street, scenario(days=2, incidents=[{"kind": "elderly_fall", "at": "day 1 07:10"}]))
    inc = sim.incidents[0]
    hh = sim.world.household(inc.household_id)
    assert hh is not None
    assert hh.care.watched
    vols = [
        (m.ts, json.loads(m.payload)["volume_m3"])
        for m in sim.device_messages(inc.device_id)
        if m.topic.endswith("/telemetry")
    ]
    during = [v for t, v in vols if inc.start + 600 <= t < inc.end]
    after = [v for t, v in vols if t >= inc.end]
    assert len(during) >= 20
    assert max(during) == min(during)
    assert after
    assert after[-1] > during[-1]
