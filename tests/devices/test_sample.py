from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from devices.csvio import load_registry, save_registry
from devices.model import DeviceClass, Role
from devices.registry import Registry
from devices.sample import CHINA, SIZES, Size, sample_area, sample_street

START = date(2026, 3, 1)


@pytest.fixture(scope="module")
def street() -> Registry:
    return sample_street(1, start=START, days=3)


def test_shape(street: Registry) -> None:
    assert len(street.streets) == 1
    assert len(street.communities) == 3
    assert len(street.microgrids) >= 30
    assert len(street.devices) >= 5_000
    classes = Counter(d.device_class for d in street.devices.values())
    assert set(classes) == set(DeviceClass)
    assert all(street.devices_under(m) for m in street.microgrids)
    assert all(b.floors >= 1 for b in street.buildings.values())


def test_every_household_has_a_water_meter(street: Registry) -> None:
    for h in street.households.values():
        classes = {d.device_class for d in street.devices_of_household(h.id)}
        assert DeviceClass.WATER_METER in classes


def test_lone_elderly_share(street: Registry) -> None:
    watched = [h for h in street.households.values() if h.care.watched]
    share = len(watched) / len(street.households)
    assert 0.10 <= share <= 0.20
    assert all(h.care.emergency_contacts for h in watched)
    assert any(h.care.quiet_hours for h in watched)
    assert any(h.care.away_until for h in watched)
    # some elderly or lone residents are NOT watched: rules must check consent
    assert any(h.care.elderly and not h.care.watched for h in street.households.values())


def test_intervals(street: Registry) -> None:
    by_class: dict[DeviceClass, set[int]] = {}
    for d in street.devices.values():
        by_class.setdefault(d.device_class, set()).add(d.expected_interval_s)
    assert by_class[DeviceClass.SMOKE_DETECTOR] == {86_400}
    assert by_class[DeviceClass.WATER_METER] <= {3_600, 86_400}


def test_staff_and_roster_cover_every_hour(street: Registry) -> None:
    for m in street.microgrids:
        assert len(street.people_at(m, Role.MICROGRID_LEADER)) == 1
        assert 2 <= len(street.people_at(m, Role.GRID_WORKER)) <= 3
        t = datetime.combine(START, time(0), CHINA)
        while t < datetime.combine(START + timedelta(days=3), time(8), CHINA):
            duty = street.on_duty(m, t)
            assert duty, (m, t)
            assert duty[0].role is Role.GRID_WORKER
            t += timedelta(hours=1)
    assert street.people_at("xf", Role.STREET_DUTY)
    assert all(street.people_at(c, Role.COMMUNITY_DUTY) for c in street.communities)


def test_deterministic_for_a_seed(street: Registry) -> None:
    assert sample_street(1, start=START, days=3) == street
    other = sample_street(2, start=START, days=3)
    assert other != street


def test_scale_multiplies_buildings(street: Registry) -> None:
    big = sample_street(1, start=START, days=1, scale=2)
    assert len(big.microgrids) == len(street.microgrids)
    assert len(big.households) > 1.5 * len(street.households)
    with pytest.raises(ValueError, match="scale"):
        sample_street(scale=0)


def test_an_area_of_several_streets_keeps_ids_unique_and_round_trips(tmp_path: Path) -> None:
    area = sample_area(Size(streets=3, scale=1, watched=0.15), 1, start=START, days=1)
    assert [s.id for s in area.streets.values()] == ["xf", "s02", "s03"]
    assert len(area.communities) == 9
    assert len(area.microgrids) == 3 * len(sample_street(1, start=START, days=1).microgrids)
    assert {area.communities[c].street_id for c in ("c-yg", "c-s02yg", "c-s03yg")} == {"xf", "s02", "s03"}
    for street in area.streets:  # each street has its own duty desk, communities and micro-grids
        assert area.people_at(street, Role.STREET_DUTY)
        assert any(area.is_within(m, street) for m in area.microgrids)
    assert len(area.people_at("xf", Role.OPERATOR)) == 1
    # the streets stand side by side on the site plan, not on top of each other
    spots = {(b.lat, b.lon) for b in area.buildings.values()}
    assert len(spots) == len(area.buildings)
    save_registry(area, tmp_path)
    assert load_registry(tmp_path) == area


def test_the_watched_share_follows_the_size() -> None:
    street = sample_area(Size(streets=1, scale=1, watched=0.15), 1, start=START, days=1)
    heavy = sample_area(Size(streets=1, scale=1, watched=0.47), 1, start=START, days=1)
    share = [sum(h.care.watched for h in r.households.values()) / len(r.households) for r in (street, heavy)]
    assert 0.10 <= share[0] <= 0.20
    assert 0.42 <= share[1] <= 0.52
    assert street == sample_street(1, start=START, days=1)  # the street size is the sample street


def test_sizes_are_named_and_checked() -> None:
    assert [SIZES[n].streets for n in ("street", "district", "city")] == [1, 11, 55]
    with pytest.raises(ValueError, match="town"):
        sample_area("town")
    with pytest.raises(ValueError, match="watched"):
        sample_area(Size(streets=1, scale=1, watched=0.9))
