"""Turning a rule's verdict into `Alert`s: placement in the grid, dedup keys, cooldown and open/cleared state.

One `Emitter` per rule. Its state (which keys are open, when each was last raised) is part of the snapshot, so
after a restart an alert that is already open is not raised again, and a clear still finds what it clears."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devices.reading import Reading
from devices.registry import Registry
from rules.alert import Alert, AlertAction, Severity


@dataclass(frozen=True, slots=True)
class Place:
    """Where an alert belongs; the alerts service routes it to `microgrid_id`."""

    microgrid_id: str
    community_id: str | None = None
    building_id: str | None = None
    device_id: str | None = None
    household_id: str | None = None


def place_of_reading(r: Reading) -> Place:
    return Place(r.microgrid_id, r.community_id, r.building_id, r.device_id, r.household_id)


def place_of_device(registry: Registry, device_id: str) -> Place | None:
    p = registry.placement(device_id)
    if p is None:
        return None
    return Place(p.microgrid_id, p.community_id, p.building_id, device_id, p.household_id)


def place_of_household(registry: Registry, household_id: str) -> Place | None:
    h = registry.households.get(household_id)
    if h is None:
        return None
    mg = registry.microgrid_of(household_id)
    if mg is None:
        return None
    return Place(mg, registry.community_of(household_id), h.building_id, None, household_id)


class Emitter:
    """Raise/clear bookkeeping of one rule.

    Rules with a clear condition: a key is open from its raise to its clear; while open, repeats go out only
    once the cooldown has passed since the last one (they update the open ticket).

    Pulse rules (no clear condition: a thrown object, a forced door): there is no end to wait for, so an
    episode is a run of matches less than `cooldown` apart. Its first match goes out with the dedup key
    `rule:target@start` (start in whole epoch seconds); later matches of the same episode are held back. The
    next episode gets a new key, so it is a new ticket even if nobody has closed the previous one.

    `group` (the rule's `group`, set by the evaluator) marks each alert with `group:target`, the device or
    household it is about, so the alerts service files related rules' alerts under one ticket; `reopen_within`
    (the rule's) tells it how soon after a resolution a raise reopens the ticket."""

    __slots__ = (
        "cooldown",
        "episodes",
        "group",
        "has_clear",
        "last_raise",
        "open",
        "reopen_within",
        "rule_id",
        "severity",
        "title",
        "titles",
    )

    def __init__(self, rule_id: str, title: str, severity: Severity, cooldown: float, has_clear: bool) -> None:
        self.rule_id = rule_id
        self.title = title
        self.severity = severity
        self.cooldown = cooldown
        self.has_clear = has_clear
        self.group: str | None = None
        self.reopen_within = 0.0  # the rule's `reopen_within`, carried by every alert (`Alert.reopen_within`)
        self.titles: dict[str, str] = {}  # the rule's title per language (`Alert.titles`); empty: `title` in all
        self.open: set[str] = set()
        self.last_raise: dict[str, float] = {}
        self.episodes: dict[str, str] = {}  # pulse rules: key -> dedup key of its current episode

    def key(self, target: str, group: str | None = None) -> str:
        return f"{self.rule_id}:{target}" if group is None else f"{self.rule_id}:{target}:{group}"

    def is_open(self, key: str) -> bool:
        return key in self.open

    def raise_(self, out: list[Alert], key: str, ts: float, place: Place, details: dict[str, Any]) -> bool:
        last = self.last_raise.get(key)
        if not self.has_clear:
            self.last_raise[key] = ts if last is None else max(ts, last)
            if last is not None and abs(ts - last) < self.cooldown:
                return False  # same episode
            episode = f"{key}@{int(ts)}"
            self.episodes[key] = episode
            out.append(self._alert(AlertAction.RAISE, episode, ts, place, details))
            return True
        if last is None:
            self.last_raise[key] = ts
        else:
            if ts < last + self.cooldown and key in self.open:
                return False
            if ts > last:
                self.last_raise[key] = ts
        self.open.add(key)
        out.append(self._alert(AlertAction.RAISE, key, ts, place, details))
        return True

    def clear(self, out: list[Alert], key: str, ts: float, place: Place, details: dict[str, Any]) -> bool:
        if key not in self.open:
            return False
        self.open.discard(key)
        out.append(self._alert(AlertAction.CLEAR, key, ts, place, details))
        return True

    def pending(
        self, out: list[Alert], key: str, ts: float, until: float, place: Place, details: dict[str, Any]
    ) -> bool:
        """Announce a match whose raise waits until `until` (a rule's `pending`): a `pending` alert under the
        dedup key that raise will have, so the ticket shows at once as verifying. False (nothing sent) when
        that raise would be held back: a pulse rule's episode that already raised."""
        announced = self._pending_key(key, until)
        if announced is None:
            return False
        out.append(self._alert(AlertAction.PENDING, announced, ts, place, details, until))
        return True

    def withdraw(
        self, out: list[Alert], key: str, ts: float, until: float, place: Place, details: dict[str, Any]
    ) -> bool:
        """The wait announced by `pending` ended without a raise: a `cancel` alert under the same key."""
        announced = self._pending_key(key, until)
        if announced is None:
            return False
        out.append(self._alert(AlertAction.CANCEL, announced, ts, place, details, until))
        return True

    def _pending_key(self, key: str, until: float) -> str | None:
        """The dedup key a raise of `key` at `until` would go out with (None: it would be held back)."""
        if self.has_clear:
            return key
        last = self.last_raise.get(key)
        if last is not None and abs(until - last) < self.cooldown:
            return None
        return f"{key}@{int(until)}"

    def retract(self, out: list[Alert], key: str, ts: float, place: Place, details: dict[str, Any]) -> bool:
        """Take back the raise of `key` that a late message proved wrong: a clear of the open key, or of a
        pulse rule's current episode, which is then over (the next match starts a new one, as if the raise had
        never been)."""
        if self.has_clear:
            return self.clear(out, key, ts, place, details)
        episode = self.episodes.pop(key, None)
        if episode is None:
            return False
        self.last_raise.pop(key, None)
        out.append(self._alert(AlertAction.CLEAR, episode, ts, place, details))
        return True

    def _alert(
        self, action: AlertAction, key: str, ts: float, p: Place, details: dict[str, Any], until: float | None = None
    ) -> Alert:
        # positional, in `Alert`'s field order: a sweep builds alerts by the hundred thousand
        target = p.device_id if p.device_id is not None else p.household_id
        return Alert(
            action,
            self.rule_id,
            key,
            self.severity,
            ts,
            p.microgrid_id,
            self.title,
            p.device_id,
            p.household_id,
            p.building_id,
            p.community_id,
            details,
            self.has_clear,
            until,
            None if self.group is None or target is None else f"{self.group}:{target}",
            self.reopen_within,
            self.titles,
        )

    def dump(self) -> dict[str, Any]:
        return {"open": sorted(self.open), "last_raise": self.last_raise, "episodes": self.episodes}

    def load(self, data: dict[str, Any]) -> None:
        self.open = set(data.get("open", ())) if self.has_clear else set()
        self.last_raise = {str(k): float(v) for k, v in data.get("last_raise", {}).items()}
        self.episodes = {str(k): str(v) for k, v in data.get("episodes", {}).items()} if not self.has_clear else {}

    def prune(self, before: float) -> None:
        """Forget closed keys last raised before `before` (their cooldown has long passed)."""
        stale = [k for k, t in self.last_raise.items() if t < before and k not in self.open]
        for k in stale:
            del self.last_raise[k]
            self.episodes.pop(k, None)
