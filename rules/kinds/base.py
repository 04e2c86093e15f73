"""What evaluators share: the engine context they run in, and the evaluator base class."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from devices.model import DeviceClass
from devices.payloads import Channel
from devices.reading import Reading, Scalar
from devices.registry import Registry
from rules.alert import Alert
from rules.conditions import Condition, events_of_conditions
from rules.config import Rule
from rules.emit import Emitter, Place, place_of_device, place_of_household
from rules.progress import LiveTimers
from rules.schedule import QuietEnds, Schedule

NEVER = float("-inf")
"""A time before every other. A module constant for hot paths: `float("-inf")` parses its string at every call."""


class Context:
    """Engine state evaluators may read or use: registry, zone, watermark, the output list, the timer heap and
    what the engine remembers per device: when it was last heard (any channel), and the fields and time of
    its previous telemetry message. `live`: the timers by device, when the engine runs on a live stream."""

    __slots__ = (
        "_places",
        "heap",
        "last_seen",
        "live",
        "out",
        "prev_fields",
        "prev_ts",
        "quiet_end",
        "registry",
        "seq",
        "tz",
        "tz_name",
        "watermark",
    )

    def __init__(self, registry: Registry, tz_name: str) -> None:
        self.registry = registry
        self.tz_name = tz_name
        self.tz = ZoneInfo(tz_name)
        self.quiet_end = QuietEnds(self.tz)  # `quiet_end(ts, quiet_hours)` in this zone, remembered per minute
        self.watermark = NEVER
        self.out: list[Alert] = []
        self.heap: list[tuple[float, int, str, str]] = []  # (due, seq, rule_id, key)
        self.seq = 0
        self.live: LiveTimers | None = None
        self.last_seen: dict[str, float] = {}
        self.prev_fields: dict[str, dict[str, Scalar]] = {}
        self.prev_ts: dict[str, float] = {}
        self._places: dict[str, Place | None] = {}

    def use_registry(self, registry: Registry) -> None:
        self.registry = registry
        self._places = {}

    def device_place(self, device_id: str) -> Place | None:
        """Where a device's alerts belong (cached per registry: timers fire in bulk)."""
        try:
            return self._places[device_id]
        except KeyError:
            p = self._places[device_id] = place_of_device(self.registry, device_id)
            return p

    def household_place(self, household_id: str) -> Place | None:
        try:
            return self._places[household_id]
        except KeyError:
            p = self._places[household_id] = place_of_household(self.registry, household_id)
            return p

    def timer(self, due: float, rule_id: str, key: str, owner: str | None = None) -> None:
        """Call the rule's `on_timer(key, due)` once the watermark reaches `due`, or on a live stream once the
        time of device `owner` has (`rules.progress`); each timer fires once. Timers are not cancelled:
        evaluators check on firing whether the timer still means something (lazy invalidation)."""
        self.seq += 1
        t = (due, self.seq, rule_id, key)
        heapq.heappush(self.heap, t)
        if owner is not None and self.live is not None:
            self.live.add(t, owner)


class Evaluator:
    """Base of the per-kind evaluators. `devices` is the set of device ids in scope (None: every device of the
    rule's classes)."""

    kind: ClassVar[str] = ""
    classes: frozenset[DeviceClass] | None
    channels: frozenset[Channel] | None = None  # None: messages of every channel
    events: frozenset[str] | None = None  # None: whatever `Reading.event` is
    conditions: list[Condition] | None = None  # all conditions of a condition-only rule, for `events_on`

    def __init__(self, rule: Rule, emitter: Emitter, schedule: Schedule | None) -> None:
        self.rule = rule
        self.id = rule.id
        self.emitter = emitter
        emitter.group = rule.group
        emitter.reopen_within = rule.reopen_within
        emitter.titles = rule.title.by_lang()
        self.schedule = schedule
        self.devices: frozenset[str] | None = None
        self.households: list[str] = []
        self.classes = None

    def wants(self, device_class: DeviceClass, channel: Channel) -> bool:
        """Whether messages of this class on this channel can matter (the engine indexes on it)."""
        if self.classes is not None and device_class not in self.classes:
            return False
        return self.channels is None or channel in self.channels

    def events_on(self, channel: Channel) -> frozenset[str] | None:
        """The event names that matter on `channel` (None: any); the engine routes messages on it."""
        if self.conditions is None:
            return self.events
        return events_of_conditions(self.conditions, channel)

    def rescope(self, ctx: Context) -> None:
        """Recompute the ids in scope after a registry change."""

    def start(self, ctx: Context, birth: float) -> None:
        """Arm timers once the engine knows what time it is (first message or advance, or after restore)."""

    def reset_timers(self) -> None:
        """Forget which timers are armed: the engine is rebuilding its timer heap and will call `start`."""

    def on_reading(self, r: Reading, prev: Mapping[str, Scalar] | None, ctx: Context) -> None:
        """Judge one message. `prev` holds the device's previous field values (for `delta` conditions)."""

    def on_timer(self, key: str, due: float, ctx: Context) -> None:
        """A timer set with `ctx.timer` came due."""

    def in_scope(self, device_id: str) -> bool:
        return self.devices is None or device_id in self.devices

    def active_at(self, ts: float) -> bool:
        return self.schedule is None or self.schedule.active(ts)

    def when_active(self, ts: float) -> float:
        """The first moment at or after `ts` at which the rule's schedule allows a raise."""
        return ts if self.schedule is None else self.schedule.next_active(ts)

    def dump(self) -> dict[str, Any]:
        return {"emitter": self.emitter.dump()}

    def load(self, data: dict[str, Any]) -> None:
        self.emitter.load(data.get("emitter", {}))

    def prune(self, now: float) -> None:
        """Drop state that can no longer matter (called on sweeps)."""
        self.emitter.prune(now - max(self.emitter.cooldown, 86_400.0))
