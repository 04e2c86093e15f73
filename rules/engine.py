"""The event-time rule engine: messages in, alerts out, no I/O.

Time is event time. The watermark is the newest device time seen minus the allowed lateness (or what the
driver passes to `advance`); timers (durations, heartbeats, absences) fire when the watermark passes them and
date their alerts at the moment the limit was passed, not when the sweep ran. So a replay gives the same alerts
whatever its speed or sweep interval.

On a live stream (`live_slack_s` set, the service's rule runner), a timer that belongs to a device fires as
soon as that device's own time has passed it: at its own later message, or by the service clock corrected by
the device's observed clock offset, plus the slack (`rules.progress`, `advance_live`). The watermark then only
bounds what a late message may still change: a message dated within it that contradicts a verdict taken
before it arrived (a resident's silence that arrives after the smoke alarm's wait ended) corrects it with a
clear flagged `late`.

Late and out-of-order policy (see docs/rules.md):
- every message is judged, however late; an alert it raises carries `details["late"] = True` when the message
  was older than the watermark;
- a message never moves the watermark back; one dated more than `max_future_s` after its `received_at` (a
  device clock running ahead) is judged but does not move the watermark;
- per device, state only moves forward: an older start after a newer stop, or an older register reading, is
  ignored; a stop or a "back" message that proves a limit was passed before its timer fired raises (dated when
  the limit was passed) and clears at once.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from devices.model import DeviceClass
from devices.payloads import Channel
from devices.reading import Reading, Scalar
from devices.registry import Registry
from rules.alert import Alert
from rules.conditions import NUMBER, PREV_TS
from rules.config import (
    AbsenceRule,
    BaselineRule,
    CountRule,
    DurationRule,
    EventRule,
    HeartbeatRule,
    OutageRule,
    Rule,
    RuleSet,
    ThresholdRule,
)
from rules.errors import RuleStateError
from rules.kinds.absence import AbsenceEvaluator
from rules.kinds.base import NEVER, Context, Evaluator
from rules.kinds.baseline import BaselineEvaluator
from rules.kinds.duration import DurationEvaluator
from rules.kinds.heartbeat import HeartbeatEvaluator
from rules.kinds.match import CountEvaluator, EventEvaluator, ThresholdEvaluator
from rules.kinds.outage import OutageEvaluator
from rules.kinds.watched import WatchedMeters
from rules.progress import LiveTimers, Timer
from rules.schedule import Schedule, zone

log = logging.getLogger(__name__)

_BULK = 1024
"""Timers `_fire` pops one by one at least before it takes the rest of the due ones out in one pass
(`_fire_bulk`)."""

SNAPSHOT_VERSION = 1
Judge = Callable[[Reading, Mapping[str, Scalar] | None, Context], None]
"""An evaluator's bound `on_reading`: the index holds these, so a message costs no method look-up per rule."""
Route = tuple[dict[str, tuple[Judge, ...]], tuple[Judge, ...]]
"""The evaluators' `on_reading` for one class and channel: by event name, and those for any other event."""


@dataclass(slots=True)
class EngineState:
    """Everything the engine must remember across a restart. `rules` maps rule id to (kind, state).

    Stored as msgpack (`to_bytes`): a district's state is ~55 MB, mostly times, and msgpack writes a float as
    its 8 bytes where JSON formats its digits (0.24 s of JSON against ~0.1 s, on the event loop every save).
    A snapshot saved as JSON (an object, `{`) still loads; both decode to the same values."""

    watermark: float | None = None
    birth: float | None = None
    last_seen: dict[str, float] = field(default_factory=dict)
    prev_fields: dict[str, dict[str, Scalar]] = field(default_factory=dict)
    prev_ts: dict[str, float] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    offsets: dict[str, float] = field(default_factory=dict)  # live: each device's clock offset (`LiveTimers`)

    def to_bytes(self) -> bytes:
        data: dict[str, Any] = {
            "version": SNAPSHOT_VERSION,
            "watermark": self.watermark,
            "birth": self.birth,
            "last_seen": self.last_seen,
            "prev_fields": self.prev_fields,
            "prev_ts": self.prev_ts,
            "rules": self.rules,
        }
        if self.offsets:
            data["offsets"] = self.offsets
        return msgspec.msgpack.encode(data)

    @classmethod
    def from_bytes(cls, data: bytes) -> EngineState:
        try:
            raw = msgspec.json.decode(data) if data[:1] == b"{" else msgspec.msgpack.decode(data)
        except msgspec.DecodeError as e:
            raise RuleStateError(f"rule state snapshot is neither msgpack nor JSON: {e}") from None
        if not isinstance(raw, dict) or raw.get("version") != SNAPSHOT_VERSION:
            got = raw.get("version") if isinstance(raw, dict) else None
            raise RuleStateError(f"rule state snapshot has version {got!r}, expected {SNAPSHOT_VERSION}")
        try:
            return cls(
                watermark=None if raw.get("watermark") is None else float(raw["watermark"]),
                birth=None if raw.get("birth") is None else float(raw["birth"]),
                last_seen={str(k): float(v) for k, v in raw.get("last_seen", {}).items()},
                prev_fields={str(k): dict(v) for k, v in raw.get("prev_fields", {}).items()},
                prev_ts={str(k): float(v) for k, v in raw.get("prev_ts", {}).items()},
                rules={str(k): dict(v) for k, v in raw.get("rules", {}).items()},
                offsets={str(k): float(v) for k, v in raw.get("offsets", {}).items()},
            )
        except (TypeError, ValueError, AttributeError) as e:
            raise RuleStateError(f"rule state snapshot is malformed: {e}") from None


def make_evaluator(rule: Rule, tz: str) -> Evaluator:
    schedule = Schedule(rule.schedule, tz) if rule.schedule is not None else None
    if isinstance(rule, EventRule):
        return EventEvaluator(rule, schedule)
    if isinstance(rule, ThresholdRule):
        return ThresholdEvaluator(rule, schedule)
    if isinstance(rule, DurationRule):
        return DurationEvaluator(rule, schedule)
    if isinstance(rule, CountRule):
        return CountEvaluator(rule, schedule)
    if isinstance(rule, HeartbeatRule):
        return HeartbeatEvaluator(rule, schedule)
    if isinstance(rule, OutageRule):
        return OutageEvaluator(rule, schedule)
    if isinstance(rule, AbsenceRule):
        return AbsenceEvaluator(rule, schedule)
    if isinstance(rule, BaselineRule):
        return BaselineEvaluator(rule, schedule)
    raise TypeError(f"unknown rule type {type(rule).__name__}")


class Engine:
    """Judges readings with a rule set. Not thread-safe; one task drives it (the rule runner).

    `live_slack_s`: None for replays (timers fire by the watermark only); on a live stream, how long after a
    device's time passed a timer's due the timer fires by the service clock (`advance_live`): what a message
    of that device dated before the due may take in transport and still count."""

    def __init__(
        self,
        ruleset: RuleSet,
        registry: Registry,
        *,
        tz: str = "Asia/Shanghai",
        allowed_lateness_s: float = 300,
        max_future_s: float = 300,
        live_slack_s: float | None = None,
        state: EngineState | None = None,
    ) -> None:
        zone(tz)
        if allowed_lateness_s < 0:
            raise ValueError("allowed_lateness_s must not be negative")
        if live_slack_s is not None and live_slack_s < 0:
            raise ValueError("live_slack_s must not be negative")
        self.tz = tz
        self.allowed_lateness_s = float(allowed_lateness_s)
        self.max_future_s = float(max_future_s)
        self.live_slack_s = None if live_slack_s is None else float(live_slack_s)
        self.ruleset = ruleset
        self.failures = 0  # rules that raised on a message or a timer (bugs), passed over; see `_failed`
        self._failures_by_rule: dict[str, int] = {}
        self._ctx = Context(registry, tz)
        if self.live_slack_s is not None:
            self._ctx.live = LiveTimers(self.live_slack_s, self.max_future_s)
        self._received = NEVER  # live: the newest `received_at` judged
        self._fire_live = self._fire_one  # bound once: `process` hands it on for every message
        self._birth: float | None = None
        self._evaluators: list[Evaluator] = []
        self._by_id: dict[str, Evaluator] = {}
        self._index: dict[DeviceClass, dict[Channel, Route]] = {}
        self._build(ruleset, previous={})
        if state is not None:
            self._load(state)

    # --- public API --------------------------------------------------------------------------------------------

    @property
    def watermark(self) -> float | None:
        w = self._ctx.watermark
        return None if w == NEVER else w

    @property
    def registry(self) -> Registry:
        return self._ctx.registry

    @property
    def received_upto(self) -> float | None:
        """Live: the newest `received_at` of the readings judged (None before the first)."""
        return None if self._received == NEVER else self._received

    def rule_ids(self) -> list[str]:
        return [ev.id for ev in self._evaluators]

    def process(self, reading: Reading) -> list[Alert]:
        """Judge one message; returns the alerts it caused, plus those of timers its time made due."""
        ctx = self._ctx
        out: list[Alert] = []
        ctx.out = out
        ts = reading.ts
        if self._birth is None:
            self._start(ts)
        live = ctx.live
        if live is not None:
            # the device's own progress, before the message is judged; a clock too far ahead proves nothing
            received = reading.received_at
            if received > self._received:
                self._received = received
            if received <= 0 or ts <= received + self.max_future_s:
                live.on_message(reading.device_id, received, ts, ctx.watermark, self._fire_live)
        extra = reading.extra
        if extra and reading.device_class is DeviceClass.WATER_METER:
            frozen = extra.get("frozen")
            if frozen:
                for early in _frozen_readings(reading, frozen):
                    self._judge(early)
        self._judge(reading)
        received = reading.received_at
        if received <= 0 or ts <= received + self.max_future_s:
            wm = ts - self.allowed_lateness_s
            if wm > ctx.watermark:
                ctx.watermark = wm
                heap = ctx.heap
                if heap and heap[0][0] <= wm:
                    self._fire()
        return out

    def process_many(self, readings: Iterable[Reading]) -> list[Alert]:
        out: list[Alert] = []
        for r in readings:
            out.extend(self.process(r))
        return out

    def start_at(self, t: float) -> None:
        """Start the clocks of devices and households never heard at `t`, the moment the service began
        watching, unless the engine has started already (a restored state, or a reading came first). Without it
        the first sweep starts them at the clock minus the allowed lateness: before anything could have been
        heard, so every quiet device of a new deployment would be offline `allowed_lateness_s` too early."""
        if self._birth is None:
            self._start(t)

    def backdate(self, households: set[str], t: float) -> None:
        """Time the absence and routine clocks of `households` from `t`, before the birth: the readings of their
        meters since `t` come next (a demo that starts with their last days). Every other device and household
        stays timed from the birth, so it is not silent since `t`. The engine must have started."""
        if self._birth is None:
            raise RuntimeError("backdate before the engine started (start_at)")
        for ev in self._evaluators:
            if isinstance(ev, WatchedMeters):
                ev.backdate(households, t)

    def advance(self, now: float) -> list[Alert]:
        """Move the watermark to `now` (never back) and fire the timers that came due."""
        ctx = self._ctx
        out: list[Alert] = []
        ctx.out = out
        if self._birth is None:
            self._start(now)
        if now > ctx.watermark:
            ctx.watermark = now
        self._fire()
        for ev in self._evaluators:
            ev.prune(ctx.watermark)
        return out

    def advance_live(self, now: float) -> list[Alert]:
        """Live: fire the timers whose device's time has passed them by the service clock `now` (its clock
        offset and the slack taken off, `LiveTimers.fire_by_clock`). The driver passes the clock only while every
        reading received has been judged; with readings still queued, `received_upto`. The watermark does not
        move. Without `live_slack_s`, nothing."""
        ctx = self._ctx
        live = ctx.live
        out: list[Alert] = []
        if live is None or self._birth is None:
            return out
        ctx.out = out
        live.fire_by_clock(now, ctx.watermark, self._fire_live)
        return out

    def next_live_at(self) -> float | None:
        """Live: the service-clock moment `advance_live` may next have a timer to fire (None: no timer)."""
        live = self._ctx.live
        return None if live is None else live.next_at()

    def reload(self, ruleset: RuleSet) -> None:
        """Switch to `ruleset`. Rules whose id still exists with the same kind keep their state (open alerts,
        running durations, absence clocks); removed rules are forgotten."""
        previous = {ev.id: ev for ev in self._evaluators}
        self.ruleset = ruleset
        self._build(ruleset, previous)
        self._rearm()

    def set_registry(self, registry: Registry) -> None:
        """Use a new registry (devices added, care profiles changed); rule state is kept."""
        self._ctx.use_registry(registry)
        for ev in self._evaluators:
            ev.rescope(self._ctx)
        self._bind_outages()
        self._reindex()
        self._rearm()

    def acknowledge_absence(self, household_id: str, until: float | None, *, at: float | None = None) -> list[Alert]:
        """A person's answer to an absence alert: "away confirmed" until `until` (epoch s), or "visited" when
        `until` is None. Clears the open absence alert; the absence clock restarts at `until` or at `at`
        (default: the watermark)."""
        ctx = self._ctx
        out: list[Alert] = []
        ctx.out = out
        when = at if at is not None else (ctx.watermark if ctx.watermark > NEVER else (until or 0.0))
        for ev in self._evaluators:
            if isinstance(ev, AbsenceEvaluator | BaselineEvaluator):
                ev.answer(ctx, household_id, until, when)
        return out

    def away_answers(self) -> dict[str, float | None]:
        """The "away confirmed" answer the absence rules hold for each household they watch: until when, or
        None (none, or two rules that differ). What start-up compares with the store's record of aways
        (`cwatch.answers`)."""
        held: dict[str, set[float | None]] = {}
        for ev in self._evaluators:
            if isinstance(ev, AbsenceEvaluator):
                for h in ev.meters:
                    held.setdefault(h, set()).add(ev.answered.get(h))
        return {h: next(iter(v)) if len(v) == 1 else None for h, v in held.items()}

    def state(self) -> EngineState:
        ctx = self._ctx
        return EngineState(
            watermark=self.watermark,
            birth=self._birth,
            last_seen=ctx.last_seen,
            prev_fields=ctx.prev_fields,
            prev_ts=ctx.prev_ts,
            rules={ev.id: {"kind": ev.kind, **ev.dump()} for ev in self._evaluators},
            offsets=ctx.live.dump_offsets() if ctx.live is not None else {},
        )

    def snapshot(self) -> bytes:
        return self.state().to_bytes()

    def load_snapshot(self, snapshot: bytes) -> None:
        """Go back to `snapshot` (from `snapshot()`), keeping the current rules and registry. What the runner
        does when the alerts of a batch could not be handed on: the spool hands the batch again, and judged
        from the state before it, it raises them again (judged on top of its own effects, it would look like
        messages already seen). Raises RuleStateError for a snapshot that cannot be read."""
        fresh = Engine(
            self.ruleset,
            self._ctx.registry,
            tz=self.tz,
            allowed_lateness_s=self.allowed_lateness_s,
            max_future_s=self.max_future_s,
            live_slack_s=self.live_slack_s,
            state=EngineState.from_bytes(snapshot),
        )  # built aside: if that fails, this engine is left as it was
        self._ctx, self._birth, self._evaluators = fresh._ctx, fresh._birth, fresh._evaluators
        self._by_id, self._index = fresh._by_id, fresh._index
        self._received = fresh._received  # unknown again until the batch handed again is judged

    @classmethod
    def restore(
        cls,
        snapshot: bytes,
        ruleset: RuleSet,
        registry: Registry,
        *,
        tz: str = "Asia/Shanghai",
        allowed_lateness_s: float = 300,
        max_future_s: float = 300,
        live_slack_s: float | None = None,
    ) -> Engine:
        return cls(
            ruleset,
            registry,
            tz=tz,
            allowed_lateness_s=allowed_lateness_s,
            max_future_s=max_future_s,
            live_slack_s=live_slack_s,
            state=EngineState.from_bytes(snapshot),
        )

    # --- internals ---------------------------------------------------------------------------------------------

    def _build(self, ruleset: RuleSet, previous: dict[str, Evaluator]) -> None:
        evs = []
        for rule in ruleset.enabled():
            ev = make_evaluator(rule, self.tz)
            old = previous.get(rule.id)
            if old is not None and old.kind == ev.kind:
                ev.load(old.dump())
            ev.rescope(self._ctx)
            evs.append(ev)
        self._evaluators = evs
        self._by_id = {ev.id: ev for ev in evs}
        for ev in evs:
            if isinstance(ev, AbsenceEvaluator) and ev.rule.routine is not None:
                ref = self._by_id.get(ev.rule.routine)
                ev.routine = ref if isinstance(ref, BaselineEvaluator) else None
        self._bind_outages()
        self._reindex()

    def _bind_outages(self) -> None:
        """Each outage rule takes the devices of its heartbeat rule (after every rule was rescoped)."""
        for ev in self._evaluators:
            if isinstance(ev, OutageEvaluator):
                ref = self._by_id.get(ev.rule.of)
                ev.bind(ref if isinstance(ref, HeartbeatEvaluator) else None, self._ctx)

    def _reindex(self) -> None:
        """Per class and channel, the evaluators by event name (`Reading.event`), and those for any other event:
        a camera's heartbeat never reaches the rules that wait for a thrown object."""
        index: dict[DeviceClass, dict[Channel, Route]] = {}
        # baselines learn from a message before the absence rules that consult them judge it
        ordered = sorted(self._evaluators, key=lambda ev: 0 if isinstance(ev, BaselineEvaluator) else 1)
        for c in DeviceClass:
            index[c] = {}
            for ch in Channel:
                evs = [(ev, ev.events_on(ch)) for ev in ordered if ev.wants(c, ch)]
                named = {e for _, events in evs if events is not None for e in events}
                by_event: dict[str, tuple[Judge, ...]] = {
                    e: tuple(ev.on_reading for ev, events in evs if events is None or e in events) for e in named
                }
                index[c][ch] = (by_event, tuple(ev.on_reading for ev, events in evs if events is None))
        self._index = index

    def _load(self, st: EngineState) -> None:
        ctx = self._ctx
        ctx.last_seen = dict(st.last_seen)
        ctx.prev_fields = {k: dict(v) for k, v in st.prev_fields.items()}
        ctx.prev_ts = dict(st.prev_ts)
        ctx.watermark = st.watermark if st.watermark is not None else NEVER
        if ctx.live is not None:
            ctx.live.load_offsets(st.offsets)
        for ev in self._evaluators:
            data = st.rules.get(ev.id)
            if data is not None and data.get("kind") == ev.kind:
                ev.load(data)
        self._bind_outages()  # derive the outages' counts from the silent devices just loaded
        self._birth = st.birth
        self._rearm()

    def _start(self, birth: float) -> None:
        self._birth = birth
        for ev in self._evaluators:
            ev.start(self._ctx, birth)

    def _rearm(self) -> None:
        self._ctx.heap = []
        if self._ctx.live is not None:
            self._ctx.live.reset()
        for ev in self._evaluators:
            ev.reset_timers()
        if self._birth is not None:
            self._start(self._birth)

    def _judge(self, r: Reading) -> None:
        ctx = self._ctx
        dev = r.device_id
        prev = ctx.prev_fields.get(dev)
        by_event, others = self._index[r.device_class][r.channel]
        f = r.fields
        judges = others
        if by_event:
            event = f.get("event")
            if event is None:
                event = f.get("state")
            if isinstance(event, str):
                judges = by_event.get(event, others)
        for judge in judges:
            try:  # free in 3.11 unless raised
                judge(r, prev, ctx)
            except Exception:
                self._failed(getattr(judge, "__self__", None), f"a message of {dev} at {r.ts}")
        ts = r.ts
        if r.channel is Channel.TELEMETRY and ts > ctx.prev_ts.get(dev, NEVER):
            if prev is None:
                prev = ctx.prev_fields[dev] = dict(f)
            else:
                prev.update(f)
            prev[PREV_TS] = ts
            ctx.prev_ts[dev] = ts
        if ts > ctx.last_seen.get(dev, NEVER):
            ctx.last_seen[dev] = ts

    def _fire(self) -> None:
        ctx = self._ctx
        heap = ctx.heap
        wm = ctx.watermark
        by_id = self._by_id
        fired = ctx.live.fired if ctx.live is not None else None
        n = 0
        # one pass over the whole heap pays off only once many are due: after a fixed number of pops, and not
        # before 1/64 of the heap was popped, so the pass costs a few times what the pops did at most (a tick
        # that finds 1,025 of a million timers due keeps popping)
        limit = max(_BULK, len(heap) >> 6)
        while heap and heap[0][0] <= wm:
            if n == limit:
                self._fire_bulk()
                return
            n += 1
            due, seq, rule_id, key = heapq.heappop(heap)
            if fired and seq in fired:
                fired.discard(seq)  # fired already, by its device's time (`advance_live`)
                continue
            ev = by_id.get(rule_id)
            if ev is not None:
                try:  # inline, not a helper: a street-wide sweep fires 200,000 timers
                    ev.on_timer(key, due, ctx)
                except Exception:
                    self._failed(ev, f"its timer for {key} due at {due}")

    def _fire_one(self, timer: Timer) -> None:
        """Fire one live timer (by the clock, or by a message of its device)."""
        due, _, rule_id, key = timer
        ev = self._by_id.get(rule_id)
        if ev is not None:
            try:
                ev.on_timer(key, due, self._ctx)
            except Exception:
                self._failed(ev, f"its timer for {key} due at {due}")

    def _failed(self, ev: Any, what: str) -> None:
        """A rule raised (a bug): the rest of the message or sweep goes on, so one broken rule costs its own
        alerts only, not those of the other rules judged or fired with it (they were already in `out`)."""
        self.failures += 1
        rule = getattr(ev, "id", "?")
        n = self._failures_by_rule[rule] = self._failures_by_rule.get(rule, 0) + 1
        if n <= 10 or n % 1000 == 0:  # a rule that fails on every message must not flood the log
            log.exception("rule %s failed on %s (%d failures of this rule)", rule, what, n)

    def _fire_bulk(self) -> None:
        """`_fire` when a large part of the heap is due at once (a street-wide sweep after a gap or at the end of
        quiet hours): take every due timer out in one pass and sort them, which costs less than a heap pop each.
        Same order as popping: a timer that an evaluator sets meanwhile and that is due before the next taken
        one fires first (its sequence number is larger than all taken ones, so only an earlier `due` can
        place it before one of them)."""
        ctx = self._ctx
        wm = ctx.watermark
        by_id = self._by_id
        fired = ctx.live.fired if ctx.live is not None else None
        taken = [t for t in ctx.heap if t[0] <= wm]
        heap = ctx.heap = [t for t in ctx.heap if t[0] > wm]
        heapq.heapify(heap)
        taken.sort()
        pop = heapq.heappop
        done = 0  # taken timers handed out so far
        try:
            for t in taken:
                while True:  # timers set meanwhile that come before `t`, then `t`
                    nxt = pop(heap) if heap and heap[0] < t else t
                    if nxt is t:
                        done += 1
                    due, seq, rule_id, key = nxt
                    ev = by_id.get(rule_id)
                    if fired and seq in fired:
                        fired.discard(seq)
                    elif ev is not None:
                        try:
                            ev.on_timer(key, due, ctx)
                        except Exception:
                            self._failed(ev, f"its timer for {key} due at {due}")
                    if nxt is t:
                        break
        except BaseException:
            # interrupted (cancelled, or a failure outside the rules): the timers not handed out yet go back, as
            # popping each would have left them
            for t in taken[done:]:
                heapq.heappush(heap, t)
            raise
        self._fire()


def _frozen_readings(r: Reading, frozen: Any) -> list[Reading]:
    """The interval readings a meter stored and uploaded with this one, as readings of their own (oldest
    first, only those older than the carrying message)."""
    out: list[Reading] = []
    if not isinstance(frozen, list):
        return out
    for item in frozen:
        ts_raw = item.get("ts") if isinstance(item, dict) else getattr(item, "ts", None)
        vol = item.get("volume_m3") if isinstance(item, dict) else getattr(item, "volume_m3", None)
        if isinstance(ts_raw, datetime):
            ts = ts_raw.timestamp()
        elif isinstance(ts_raw, str):
            try:
                ts = datetime.fromisoformat(ts_raw).timestamp()
            except ValueError:
                continue
        elif isinstance(ts_raw, NUMBER):
            ts = float(ts_raw)
        else:
            continue
        if not isinstance(vol, NUMBER) or ts >= r.ts:
            continue
        out.append(
            Reading(
                device_id=r.device_id,
                device_class=r.device_class,
                channel=Channel.TELEMETRY,
                ts=ts,
                seq=None,
                fields={"volume_m3": float(vol)},
                community_id=r.community_id,
                microgrid_id=r.microgrid_id,
                building_id=r.building_id,
                household_id=r.household_id,
                received_at=r.received_at,
            )
        )
    out.sort(key=lambda x: x.ts)
    return out
