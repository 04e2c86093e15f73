"""Where a rule applies: grid nodes (community, micro-grid, building, household) and household tags, resolved
against the registry into sets of device and household ids once per load, so the per-message check is one set
look-up."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import Field

from devices.model import CareProfile, Device, DeviceClass, Household, Level
from devices.registry import Registry
from rules.conditions import StrictModel

Tag = Literal["watched", "elderly", "lives_alone", "consent"]


class ScopeConfig(StrictModel):
    """A device (or household) is in scope when it lies under any listed node (all nodes when none are listed)
    and its household carries every listed tag. Tags come from the household's care profile."""

    communities: list[str] = Field(default_factory=list)
    microgrids: list[str] = Field(default_factory=list)
    buildings: list[str] = Field(default_factory=list)
    households: list[str] = Field(default_factory=list)
    household_tags: list[Tag] = Field(default_factory=list)

    def nodes(self) -> list[tuple[str, Level, str]]:
        """(config key, expected level, id) of every listed node."""
        out: list[tuple[str, Level, str]] = []
        for key, level in (
            ("communities", Level.COMMUNITY),
            ("microgrids", Level.MICROGRID),
            ("buildings", Level.BUILDING),
            ("households", Level.HOUSEHOLD),
        ):
            out.extend((key, level, nid) for nid in getattr(self, key))
        return out


def tags_of(care: CareProfile) -> frozenset[str]:
    tags = set()
    if care.watched:
        tags.add("watched")
    if care.elderly:
        tags.add("elderly")
    if care.lives_alone:
        tags.add("lives_alone")
    if care.consent:
        tags.add("consent")
    return frozenset(tags)


def unknown_nodes(scope: ScopeConfig, registry: Registry) -> list[str]:
    """Reasons for every listed node that does not exist at its level."""
    out = []
    for key, level, nid in scope.nodes():
        found = registry.level_of(nid)
        if found is not level:
            what = f"is a {found.value}" if found is not None else "does not exist"
            out.append(f"scope.{key}: {nid!r} {what}")
    return out


def _households_in(scope: ScopeConfig | None, registry: Registry) -> Iterable[Household]:
    if scope is None or not scope.nodes():
        return registry.households.values()
    seen: dict[str, Household] = {}
    for _, _, nid in scope.nodes():
        for h in registry.households_under(nid):
            seen.setdefault(h.id, h)
    return seen.values()


def _has_tags(h: Household | None, tags: frozenset[str]) -> bool:
    if not tags:
        return True
    return h is not None and tags <= tags_of(h.care)


def devices_in(
    scope: ScopeConfig | None, classes: frozenset[DeviceClass] | None, registry: Registry
) -> frozenset[str] | None:
    """Ids of devices of `classes` (any class when None) in `scope`; None means "every device", which the engine
    checks without a set look-up."""
    if scope is None or (not scope.nodes() and not scope.household_tags):
        if classes is None:
            return None
        return frozenset(d.id for d in registry.devices.values() if d.device_class in classes)
    tags = frozenset(scope.household_tags)
    devices: Iterable[Device]
    if scope.nodes():
        found: dict[str, Device] = {}
        for _, _, nid in scope.nodes():
            for d in registry.devices_under(nid):
                found.setdefault(d.id, d)
        devices = found.values()
    else:
        devices = registry.devices.values()
    return frozenset(
        d.id
        for d in devices
        if (classes is None or d.device_class in classes)
        and _has_tags(registry.households.get(d.household_id) if d.household_id else None, tags)
    )


def households_in(scope: ScopeConfig | None, registry: Registry) -> list[str]:
    """Ids of households in `scope`, in registry order."""
    tags = frozenset(scope.household_tags) if scope is not None else frozenset()
    return [h.id for h in _households_in(scope, registry) if _has_tags(h, tags)]
