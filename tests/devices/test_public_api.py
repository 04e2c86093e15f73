"""Pins the interface other packages code against (see the brief in docs/architecture.md): renaming or
dropping one of these names breaks ingest, rules, alerts or the simulator, so it must fail here first."""

from __future__ import annotations

import inspect

import devices.csvio
import devices.errors
import devices.examples
import devices.registry
import devices.sample
import devices.schemas
import devices.store
from devices.errors import DevicesError, RegistryError, RegistryStoreError
from devices.registry import Registry
from devices.topics import TopicError

REGISTRY_METHODS = {
    "device",
    "placement",
    "level_of",
    "microgrid_of",
    "community_of",
    "ancestors",
    "chain_above",
    "is_within",
    "devices_under",
    "households_under",
    "devices_of_household",
    "household_of",
    "people_at",
    "on_duty",
    "with_changes",
}
REGISTRY_MAPPINGS = {"streets", "communities", "grids", "microgrids", "buildings", "households", "people", "devices"}


def test_registry_surface() -> None:
    assert {n for n, _ in inspect.getmembers(Registry, callable)} >= REGISTRY_METHODS
    reg = Registry()
    for name in REGISTRY_MAPPINGS:
        assert dict(getattr(reg, name)) == {}
    assert reg.roster == ()
    params = inspect.signature(Registry).parameters
    assert set(params) >= REGISTRY_MAPPINGS | {"roster"}
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())


def test_module_surfaces() -> None:
    assert set(devices.csvio.__all__) >= {"load_registry", "save_registry"}
    assert set(devices.store.__all__) >= {
        "create_tables",
        "save_registry_db",
        "load_registry_db",
        "registry_revision",
    }
    assert set(devices.schemas.__all__) >= {"write_schemas"}
    assert set(devices.examples.__all__) >= {"EXAMPLES", "examples_for"}
    assert list(inspect.signature(devices.sample.sample_street).parameters)[:3] == ["seed", "start", "days"]
    assert set(devices.errors.__all__) == {"DevicesError", "Problem", "RegistryError", "RegistryStoreError"}


def test_one_exception_hierarchy() -> None:
    for err in (RegistryError, RegistryStoreError, TopicError):
        assert issubclass(err, DevicesError)
    assert issubclass(TopicError, ValueError)  # kept for callers that caught ValueError
