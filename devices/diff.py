"""What changed between two registries: for the import log ("12 devices added, 3 households changed") and for
reviewing a spreadsheet before it replaces the running registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from devices.model import DutyShift
from devices.registry import Registry

__all__ = ["CollectionDiff", "RegistryDiff", "registry_diff"]

_COLLECTIONS = ("streets", "communities", "grids", "microgrids", "buildings", "households", "people", "devices")


@dataclass(frozen=True, slots=True)
class CollectionDiff:
    """Ids added, removed and changed (same id, different content) in one collection, each sorted."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


@dataclass(frozen=True, slots=True)
class RegistryDiff:
    collections: dict[str, CollectionDiff] = field(default_factory=dict)
    shifts_added: int = 0
    shifts_removed: int = 0

    def __bool__(self) -> bool:
        return any(self.collections.values()) or bool(self.shifts_added or self.shifts_removed)

    def summary(self) -> str:
        """One line per collection that changed, e.g. `devices: +12 -1 ~3`; "no changes" when equal."""
        lines = [
            f"{name}: +{len(d.added)} -{len(d.removed)} ~{len(d.changed)}" for name, d in self.collections.items() if d
        ]
        if self.shifts_added or self.shifts_removed:
            lines.append(f"roster: +{self.shifts_added} -{self.shifts_removed} shifts")
        return "\n".join(lines) if lines else "no changes"


def _shift_key(s: DutyShift) -> tuple[str, str, datetime, datetime]:
    return (s.person_id, s.microgrid_id, s.start, s.end)


def registry_diff(old: Registry, new: Registry) -> RegistryDiff:
    """Differences from `old` to `new`, by id; shifts (which have no id) are compared as whole entries."""
    out: dict[str, CollectionDiff] = {}
    for name in _COLLECTIONS:
        a, b = getattr(old, name), getattr(new, name)
        out[name] = CollectionDiff(
            added=tuple(sorted(k for k in b if k not in a)),
            removed=tuple(sorted(k for k in a if k not in b)),
            changed=tuple(sorted(k for k in b if k in a and a[k] != b[k])),
        )
    old_shifts = {_shift_key(s) for s in old.roster}
    new_shifts = {_shift_key(s) for s in new.roster}
    return RegistryDiff(out, len(new_shifts - old_shifts), len(old_shifts - new_shifts))
