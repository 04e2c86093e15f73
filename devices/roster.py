"""Reading the duty roster: who is on duty in a micro-grid now and who comes next, and which shifts started in a
time window (the handover at shift change). Covers and swaps (`DutyShift.replaces`) are applied as
`Registry.on_duty` applies them. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from devices.model import DutyShift, Person
from devices.registry import Registry


@dataclass(frozen=True, slots=True)
class Duty:
    person: Person
    shift: DutyShift


def on_duty_now(reg: Registry, microgrid_id: str, when: datetime) -> list[Duty]:
    """Who is on duty in `microgrid_id` at `when`, in dispatch order, each with the shift that ends last."""
    covering: dict[str, DutyShift] = {}
    for s in reg.shifts_in(microgrid_id):
        if s.covers(when) and (s.person_id not in covering or s.end > covering[s.person_id].end):
            covering[s.person_id] = s
    return [Duty(p, covering[p.id]) for p in reg.on_duty(microgrid_id, when) if p.id in covering]


def on_duty_next(reg: Registry, microgrid_id: str, when: datetime) -> list[Duty]:
    """Who comes on duty at the next shift start after `when` (empty: no later shift)."""
    later = [s for s in reg.shifts_in(microgrid_id) if s.start > when]
    if not later:
        return []
    at = min(s.start for s in later)
    starting = {s.person_id: s for s in later if s.start == at}
    return [Duty(p, starting[p.id]) for p in reg.on_duty(microgrid_id, at) if p.id in starting]


def shifts_starting(reg: Registry, after: datetime, until: datetime) -> list[DutyShift]:
    """Shifts that start in (`after`, `until`], by start."""
    return sorted((s for s in reg.roster if after < s.start <= until), key=lambda s: (s.start, s.microgrid_id))
