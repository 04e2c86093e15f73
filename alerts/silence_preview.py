"""What a silence would cover, before it is made: the devices it matches by class, a few of them by name, the
rules it mutes, whether critical alarms stay loud, and the active tickets inside it (those keep counting).
Also the scope tree and the devices the silence form picks from. Pure: reads the registry handed in."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from alerts.model import Account, Ticket
from alerts.scope import NODE_LEVELS, Hierarchy, collection, within
from alerts.silences import may_silence
from rules.alert import Severity

#: Devices listed by name in a preview; the rest are counted.
SAMPLE = 20
#: Devices the silence form offers at once; typing narrows them.
CHOICES = 50


@dataclass(frozen=True, slots=True)
class DeviceRef:
    id: str
    device_class: str
    label: str


@dataclass(slots=True)
class Preview:
    devices: int = 0
    by_class: dict[str, int] = field(default_factory=dict)
    sample: list[DeviceRef] = field(default_factory=list)
    rule_id: str | None = None
    critical_excluded: bool = True
    active_tickets: int = 0


def _devices_under(hierarchy: Hierarchy, node_id: str) -> Sequence[object]:
    under = getattr(hierarchy, "devices_under", None)
    if callable(under):
        found = under(node_id)
        if isinstance(found, Sequence):
            return found
    return []


def preview(
    hierarchy: Hierarchy,
    scope_id: str,
    rule_id: str | None,
    device_id: str | None,
    active: Sequence[Ticket],
    classes: frozenset[str] | None = None,
) -> Preview:
    """What a silence of `scope_id` (narrowed to `rule_id` / `device_id`) covers; `active` are the active
    tickets to check against it; `classes` the device classes the rule judges (None: any)."""
    devices = [
        d
        for d in _devices_under(hierarchy, scope_id)
        if device_id in (None, getattr(d, "id", None))
        and (classes is None or str(getattr(d, "device_class", "")) in classes)
    ]
    out = Preview(rule_id=rule_id, critical_excluded=rule_id is None)
    out.devices = len(devices)
    out.by_class = dict(Counter(str(getattr(d, "device_class", "")) for d in devices))
    out.sample = [
        DeviceRef(str(getattr(d, "id", "")), str(getattr(d, "device_class", "")), str(getattr(d, "label", "")))
        for d in devices[:SAMPLE]
    ]
    for t in active:
        if rule_id is not None and t.rule_id != rule_id:
            continue
        if rule_id is None and t.severity == Severity.CRITICAL:
            continue
        if device_id is not None and t.device_id != device_id:
            continue
        if t.microgrid_id == scope_id or within(hierarchy, t.microgrid_id, scope_id):
            out.active_tickets += 1
    return out


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    level: str
    name: str
    parent_id: str | None
    may_silence: bool


def scope_tree(hierarchy: Hierarchy, viewer: Account) -> list[Node]:
    """The nodes (street to building) within the viewer's scope or above it, parents before children, each
    saying whether the viewer may silence it: the silence form's picker."""
    out: list[Node] = []
    for level, name, parent_attr in NODE_LEVELS:
        for node_id, node in collection(hierarchy, name).items():
            mine = may_silence(viewer, node_id, hierarchy) or within(hierarchy, viewer.scope_id, node_id)
            if not mine and not within(hierarchy, node_id, viewer.scope_id) and node_id != viewer.scope_id:
                continue
            label = getattr(node, "name", None)
            parent = getattr(node, parent_attr, None) if parent_attr else None
            out.append(
                Node(
                    node_id,
                    level,
                    label if isinstance(label, str) and label else node_id,
                    parent if isinstance(parent, str) else None,
                    may_silence(viewer, node_id, hierarchy),
                )
            )
    return out


@dataclass(frozen=True, slots=True)
class DeviceChoice:
    id: str
    device_class: str
    name: str  # as people say where it is: building, door, label


def device_choices(
    hierarchy: Hierarchy, scope_id: str, query: str = "", limit: int = CHOICES
) -> tuple[list[DeviceChoice], bool]:
    """The devices under `scope_id` whose id or name contains `query` (any case), in registry order, at most
    `limit` of them; and whether more matched. The silence form offers them by name."""
    buildings = _items(hierarchy, "buildings")
    households = _items(hierarchy, "households")
    needle = query.strip().casefold()
    out: list[DeviceChoice] = []
    for d in _devices_under(hierarchy, scope_id):
        device_id = str(getattr(d, "id", ""))
        parts = (
            _text(buildings.get(getattr(d, "building_id", None)), "name"),
            _text(households.get(getattr(d, "household_id", None)), "unit"),
            _text(d, "label"),
        )
        name = " ".join(p for p in parts if p) or device_id
        if needle and needle not in device_id.casefold() and needle not in name.casefold():
            continue
        if len(out) == limit:
            return out, True
        out.append(DeviceChoice(device_id, str(getattr(d, "device_class", "")), name))
    return out, False


def _items(hierarchy: Hierarchy, collection: str) -> Mapping[object, object]:
    items = getattr(hierarchy, collection, None)
    return items if isinstance(items, Mapping) else {}


def _text(item: object, attr: str) -> str:
    value = getattr(item, attr, None)
    return value if isinstance(value, str) else ""
