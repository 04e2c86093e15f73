"""The rules file: pydantic models of every rule kind, and loading with file:line:reason errors.

A file that fails any check is refused whole (the engine keeps running the previous rule set), because a
half-loaded rule set silently drops protection. Checks: YAML syntax, unknown keys, bad values and durations,
duplicate ids, event and field names the device classes do not have, and scope ids that do not exist or a scope
naming nodes under which the rule would watch nothing.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from core.yamlspots import Lines, Problem, ordered, validation_problems, yaml_problem
from devices.classes import Power
from devices.model import DeviceClass
from devices.payloads import MODELS, Channel
from devices.registry import Registry
from rules.alert import Severity
from rules.conditions import Condition, StrictModel
from rules.durations import Duration, format_duration
from rules.errors import RuleConfigError
from rules.schedule import ScheduleConfig, parse_span
from rules.scope import ScopeConfig, devices_in, households_in, unknown_nodes

RULE_ID_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
DEFAULT_FORGET_AFTER_S = 4 * 3600.0
"""Rules with `per`: an object that sent no stop is forgotten this long after it was last seen."""


class Title(StrictModel):
    """A rule's title in each language of the message catalog. A rule file gives either a mapping
    (`title: {zh-CN: 烟感报警, en: Smoke alarm}`) or one string, which is then the title in every language."""

    zh_cn: str = Field(alias="zh-CN", min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)

    def by_lang(self) -> dict[str, str]:
        """{language: title}; empty for one title in every language (a plain string in the file)."""
        return {} if self.zh_cn == self.en else {"zh-CN": self.zh_cn, "en": self.en}

    def text(self) -> str:
        """The title as one string, for what shows a single one (webhooks, exports, logs): the plain string, or
        both languages, Chinese first."""
        return self.zh_cn if self.zh_cn == self.en else f"{self.zh_cn} {self.en}"


class RuleBase(StrictModel):
    """Fields every rule has. `cooldown`: repeats of an open alert (same dedup key) are held back for this
    long; a rule without a clear condition counts its alert as open for the cooldown after each raise.
    `group`: rules naming the same group put their alerts about one device (or one household) on one ticket,
    whose severity is the highest of them (smoke concentration, then the smoke alarm)."""

    id: str = Field(pattern=RULE_ID_PATTERN)
    title: Title
    severity: Severity
    enabled: bool = True
    description: str = ""
    cooldown: Duration = 600.0
    schedule: ScheduleConfig | None = None
    scope: ScopeConfig | None = None
    group: str | None = Field(default=None, pattern=RULE_ID_PATTERN)
    reopen_within: Duration = Field(
        default=0.0,
        ge=0,
        description="A raise this soon after its condition's ticket was resolved (by a clear or a person) reopens "
        "that ticket instead of opening a new one: a device that keeps dropping off is one ticket with its history. "
        "0: only the alerts service's flap window (10 min, auto-resolved tickets) applies.",
    )

    @field_validator("title", mode="before")
    @classmethod
    def _one_title(cls, value: Any) -> Any:
        return {"zh-CN": value, "en": value} if isinstance(value, str) else value


class DeviceRuleBase(RuleBase):
    """A rule that judges the messages of devices of `device_class` (any class when omitted)."""

    device_class: list[DeviceClass] | None = None

    @model_validator(mode="before")
    @classmethod
    def _class_as_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("device_class"), str):
            return {**data, "device_class": [data["device_class"]]}
        return data

    def classes(self) -> frozenset[DeviceClass] | None:
        return frozenset(self.device_class) if self.device_class is not None else None


class PerObject(StrictModel):
    """`per` names a field of the messages (e.g. a camera's `object_id`) by which a device's state is kept per
    object; an object not seen again for `forget_after` (default 4 h) is forgotten, as if it had stopped: its
    stop was lost."""

    per: str | None = Field(default=None, min_length=1)
    forget_after: Duration | None = Field(default=None, gt=0)

    def forget_s(self) -> float:
        """How long an object of a `per` rule is kept without being seen again."""
        return self.forget_after if self.forget_after is not None else DEFAULT_FORGET_AFTER_S


class EventRule(DeviceRuleBase, PerObject):
    """Raise when a message matches any `match` condition; clear when one matches any `clear` condition.
    With `pending`, a match is held that long (event time) and dropped if the device sends a `cancel` or
    `clear` message meanwhile; the alert is then dated when the wait ended.

    With `per`, a `clear` ends only the object it names (all of them if it names none), and the alert clears
    when the last object that matched has ended: smoke seen as two overlapping objects stays one alert until
    both are gone."""

    kind: Literal["event"]
    match: list[Condition] = Field(min_length=1)
    clear: list[Condition] = Field(default_factory=list)
    pending: Duration = 0.0
    cancel: list[Condition] = Field(default_factory=list)


class ThresholdRule(DeviceRuleBase):
    """Raise when numeric `field` crosses `value` (`op` says which side is bad) or a message matches `also`;
    clear when the field is back on the good side of `clear_value` (hysteresis; default `value`) or a message
    matches `clear`."""

    kind: Literal["threshold"]
    field: str
    op: Literal[">", ">=", "<", "<="]
    value: float
    clear_value: float | None = None
    channel: Channel | None = None
    also: list[Condition] = Field(default_factory=list)
    clear: list[Condition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _hysteresis(self) -> ThresholdRule:
        cv = self.clear_value
        if cv is not None and (
            (self.op in (">", ">=") and cv > self.value) or (self.op in ("<", "<=") and cv < self.value)
        ):
            raise ValueError("clear_value must lie on the good side of value")
        return self


class DurationRule(DeviceRuleBase, PerObject):
    """Raise when a `start` condition has held for `for` without a `stop`; clear on `stop`. `backdate:
    previous_reading` dates the start at the device's previous message (the state began somewhere in between);
    `start_offset_field` subtracts a field of the start message (an access controller's `held_open_s`).
    With `confirm`, time alone never raises: a message matching `confirm` (and not `stop`) must arrive after
    the limit, for devices sampled rarely (a meter's flow every hour, or once a day in a batch); the alert is
    still dated when the limit was passed.

    With `per` (a field of the messages, e.g. a camera's `object_id`), the state is tracked per object: it
    holds while any object that started is still there, and ends when the last of them has stopped (one alert
    per device: a lane blocked by one car after another stays one alert). An object not seen again (start or
    pulse) for `forget_after` (default 4 h) is forgotten, as if it had stopped then: its stop was lost."""

    kind: Literal["duration"]
    start: list[Condition] = Field(min_length=1)
    stop: list[Condition] = Field(min_length=1)
    for_: Duration = Field(alias="for", gt=0)
    backdate: Literal["none", "previous_reading"] = "none"
    start_offset_field: str | None = None
    confirm: list[Condition] = Field(default_factory=list)


class CountRule(DeviceRuleBase):
    """Raise when `threshold` or more messages match within `window`, per device (and per value of `group_by`,
    e.g. the door). Clear on `clear`, or after `clear_after` without a match."""

    kind: Literal["count"]
    match: list[Condition] = Field(min_length=1)
    threshold: int = Field(ge=2)
    window: Duration = Field(gt=0)
    group_by: str | None = None
    clear: list[Condition] = Field(default_factory=list)
    clear_after: Duration | None = None


class HeartbeatRule(DeviceRuleBase):
    """Raise when a device has sent nothing for the longer of `k` times its expected interval (from the
    registry, or `intervals` per class) and its class's least offline silence (`devices.classes`, or
    `offline_after` per class); clear when it is heard again."""

    kind: Literal["heartbeat"]
    k: float = Field(default=3.0, gt=1)
    intervals: dict[DeviceClass, Duration] = Field(default_factory=dict)
    offline_after: dict[DeviceClass, Duration] = Field(
        default_factory=dict,
        description="Per class, the least silence before a device is offline, replacing the class's default "
        "(minutes for mains devices, hours to a day for battery ones; docs/rules.md).",
    )


OutageLevel = Literal["gateway", "building", "community"]
OUTAGE_LEVELS: tuple[OutageLevel, ...] = ("gateway", "building", "community")


class OutageThresholds(StrictModel):
    """When the devices of one power class of a group are out, replacing the rule's own value of each field
    given (mains devices are up or down and report every few minutes; battery ones miss reports)."""

    min_devices: int | None = Field(default=None, ge=2)
    min_share: float | None = Field(default=None, gt=0, le=1)
    span: Duration | None = Field(default=None, gt=0)
    wait: Duration | None = Field(default=None, ge=0)


class OutageRule(RuleBase):
    """One ticket for devices silent together behind one shared cause: a gateway (`Device.gateway_id`), a
    building or a community. A device of heartbeat rule `of` counts as silent once it has sent nothing for
    `device_after` times its own offline limit. A group's devices are counted per power class
    (`devices.classes.Power`: a power cut silences a building's mains devices, not its battery meters): the
    group is out while, for one class, at least `min_devices` of its devices of that class, and at least
    `min_share` of them, are silent and fell silent (their last messages) within `span` of one another. Each
    cause has one alert; while it lasts, the heartbeat rule raises nothing for the devices it covers. When it
    clears, a device still silent `device_after` x its limit later (and past its own limit) gets its own
    offline alert. `power` sets these thresholds per power class."""

    kind: Literal["outage"]
    of: str = Field(description="Id of the heartbeat rule whose devices are watched together.")
    by: list[OutageLevel] = Field(default_factory=lambda: list(OUTAGE_LEVELS), min_length=1)
    min_devices: int = Field(default=5, ge=2)
    min_share: float = Field(default=0.5, gt=0, le=1)
    span: Duration | None = Field(
        default=None,
        gt=0,
        description="The silent devices counted must have sent their last messages within this long of one "
        "another (cut off together, not silent one after another); none: any time.",
    )
    device_after: float = Field(default=0.5, gt=0, lt=1)
    wait: Duration = Field(
        default=3600.0,
        ge=0,
        description="How long a group must stay the cause before its alert goes out: devices cut off together "
        "fall silent over one reporting interval, and a building's share is reached before its gateway's.",
    )
    power: dict[Power, OutageThresholds] = Field(
        default_factory=dict, description="Per power class (battery, mains), thresholds replacing the rule's."
    )


class AllWellConfig(StrictModel):
    """Send an info-level "all well" signal at the first water use inside `hours` each day (Sakaki)."""

    hours: str = "05:00-10:00"

    @model_validator(mode="after")
    def _span(self) -> AllWellConfig:
        parse_span(self.hours)
        return self


class AbsenceRule(RuleBase):
    """Per watched household: raise when less than `min_use_m3` of water was used for `window`; quiet hours
    defer the alert to their end, an away period suspends it. One alert per absence: it then waits for water
    use (clears it) or a person's answer (away confirmed / visited). Only readings prove an absence: while
    the meter sends nothing there is no alert (no data is not no use; the heartbeat rule reports the meter)."""

    kind: Literal["absence"]
    window: Duration = Field(default=12 * 3600.0, gt=0)
    min_use_m3: float = Field(default=0.01, gt=0)
    quiet_hours: bool = True
    away: bool = True
    all_well: AllWellConfig | None = None
    routine: str | None = Field(
        default=None,
        description="Id of a `baseline` rule (mode inactivity): once it has learned the household, the absence "
        "also waits until the inactivity is unusual for the time of day (a resident's usual long night).",
    )
    max_window: Duration | None = Field(
        default=None,
        gt=0,
        description="With `routine`: the routine holds an absence back at most this long after the last use.",
    )
    min_burst_m3: float | None = Field(
        default=None,
        gt=0,
        description="One reading's use of at least this counts as use on its own (a flush, a hand wash), without "
        "adding up to `min_use_m3` within the window; a trickle of less per reading (a leak) still does not.",
    )
    before_quiet: Duration | None = Field(
        default=None,
        gt=0,
        description="An absence that would fall due inside the quiet hours is due instead an hour before they "
        "begin, if by then it has lasted this long and the routine (if any) finds it unusual then, or holding it "
        "to the end of the quiet hours would pass `max_window`.",
    )
    away_ends_on_use: bool = Field(
        default=False,
        description="Water used while the household is away (the care profile's `away_until`, or an answer "
        "'away confirmed') ends the away: the clock restarts at the use. Off: the away holds until its date (a "
        "neighbour watering the plants, a carer's visit).",
    )
    quiet_until: Literal["end", "morning"] = Field(
        default="end",
        description="An absence due inside the quiet hours is judged when they end, or (`morning`, needs "
        "`routine`) when the household usually starts its day, if that is later.",
    )

    @model_validator(mode="after")
    def _max_window(self) -> AbsenceRule:
        if self.max_window is not None and self.max_window < self.window:
            raise ValueError("max_window must not be shorter than window")
        return self


class BaselineRule(RuleBase):
    """Per watched household, learned from its own history (48 half-hour slots, numpy). `inactivity`: raise
    when the time since the last water use exceeds the `percentile` of past inactivity at this slot plus
    `buffer`. `high_use`: raise when today's use exceeds `factor` times the `percentile` of past daily use (and
    at least `min_high_m3`). Needs `min_days` of history before it says anything."""

    kind: Literal["baseline"]
    mode: Literal["inactivity", "high_use"]
    percentile: float = Field(default=97.0, gt=0, le=100)
    buffer: Duration = 3600.0
    history_days: int = Field(default=60, ge=7, le=400)
    min_days: int = Field(default=14, ge=3)
    min_use_m3: float = Field(default=0.005, gt=0)
    factor: float = Field(default=1.5, ge=1)
    min_high_m3: float = Field(default=0.5, ge=0)
    min_inactivity: Duration = Field(
        default=0.0, ge=0, description="Mode inactivity: never raise for less than this (short gaps are noise)."
    )
    late_by: Duration = Field(
        default=0.0, ge=0, le=12 * 3600.0, description="How much later than ever before the resident may be."
    )
    prior_late_hours: str | None = Field(
        default=None,
        description='With `prior: street`: the local hours ("HH:MM-HH:MM") whose slots `late_by` carries into in '
        "the street's limits (the morning, when residents rise late); default all day. Elsewhere a slot of the "
        "street's limits allows only its own: a neighbour's long day out is not this resident's routine.",
    )
    prior: Literal["none", "street"] = Field(
        default="none",
        description="Until a household has `min_days` of its own, guard absences (never raise) with the limits "
        "learned from every household of the rule's scope (at least `min_days` x 10 household-days).",
    )
    learn_max: Duration = Field(
        default=16 * 3600.0, gt=0, description="Days with a longer inactivity are not learned (they may be incidents)."
    )
    raises: bool = Field(
        default=True,
        description="Mode inactivity: false to learn the routine only, for absence rules that name it as their "
        "`routine`, without alerts of its own.",
    )

    @model_validator(mode="after")
    def _late_hours(self) -> BaselineRule:
        if self.prior_late_hours is not None:
            parse_span(self.prior_late_hours)
        return self


Rule = Annotated[
    EventRule | ThresholdRule | DurationRule | CountRule | HeartbeatRule | OutageRule | AbsenceRule | BaselineRule,
    Field(discriminator="kind"),
]
DeviceRule = EventRule | ThresholdRule | DurationRule | CountRule | HeartbeatRule
HouseholdRule = AbsenceRule | BaselineRule
KINDS = ("event", "threshold", "duration", "count", "heartbeat", "outage", "absence", "baseline")


class RuleSet(StrictModel):
    """A whole rules file. `source` is where it was loaded from (not part of the file)."""

    version: Literal[1] = 1
    rules: list[Rule] = Field(default_factory=list)
    source: Path | None = Field(default=None, exclude=True)

    def enabled(self) -> list[Rule]:
        return [r for r in self.rules if r.enabled]

    def by_id(self, rule_id: str) -> Rule | None:
        for r in self.rules:
            if r.id == rule_id:
                return r
        return None


def default_ruleset_path() -> Path:
    """The rule set shipped for a Chinese residential community (package data)."""
    return Path(str(resources.files("rules").joinpath("default_rules.yaml")))


# --- vocabulary of protocol v1, for checking names in conditions ----------------------------------------------


def _literal_values(model: type[Any], name: str) -> set[str]:
    f = model.model_fields.get(name)
    if f is None:
        return set()
    out: set[str] = set()
    for arg in typing.get_args(f.annotation) or (f.annotation,):
        if typing.get_origin(arg) is Literal:
            out.update(str(a) for a in typing.get_args(arg))
    if typing.get_origin(f.annotation) is Literal:
        out.update(str(a) for a in typing.get_args(f.annotation))
    return out


def events_of(cls: DeviceClass) -> set[str]:
    """Every value `Reading.event` can take for a class: its event names and status states."""
    out: set[str] = set()
    for (c, ch), model in MODELS.items():
        if c is cls:
            out |= _literal_values(model, "event" if ch is not Channel.STATUS else "state")
            if ch is Channel.EVENT:
                out |= _literal_values(model, "state")
    return out


def fields_of(cls: DeviceClass) -> set[str]:
    out: set[str] = set()
    for (c, _), model in MODELS.items():
        if c is cls:
            out |= set(model.model_fields) - {"ts", "seq"}
    return out


# --- loading --------------------------------------------------------------------------------------------------


def _raise(file: Path | None, problems: list[Problem]) -> typing.NoReturn:
    problems = sorted(problems, key=lambda p: (p[0] is None, p[0] or 0))
    texts = ordered(file.name if file is not None else "<rules>", problems)
    line, reason = problems[0]
    raise RuleConfigError(file, line, reason, texts)


def load_ruleset(path: Path, registry: Registry) -> RuleSet:
    """Read, validate and check `path` against `registry`; raise `RuleConfigError` naming file, line and
    reason of the first problem (all of them in `.problems`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RuleConfigError(path, None, f"cannot read rules file: {e}") from None
    return parse_ruleset(text, registry, file=path)


def parse_ruleset(text: str, registry: Registry, *, file: Path | None = None) -> RuleSet:
    """`load_ruleset` for text already in memory (tests, the API)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        _raise(file, [yaml_problem(e)])
    lines = Lines(root, KINDS)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        _raise(file, [(1, "the file must be a mapping with a 'rules' list")])
    if "source" in data:
        _raise(file, [(lines.find(("source",))[0], "unknown field 'source'")])
    try:
        rs = RuleSet.model_validate(data)
    except ValidationError as e:
        _raise(file, validation_problems(e, lines))
    problems = list(_check(rs, registry, lines))
    if problems:
        _raise(file, problems)
    return rs.model_copy(update={"source": file})


def _check(rs: RuleSet, registry: Registry, lines: Lines) -> Iterator[tuple[int | None, str]]:
    """Checks that need more than one field or the registry."""

    def at(i: int, *rest: str | int) -> tuple[int | None, str]:
        return lines.find(("rules", i, *rest))

    def problem(i: int, where: tuple[str | int, ...], reason: str) -> tuple[int | None, str]:
        line, path = at(i, *where)
        return line, f"{path}: {reason}"

    yield from _check_groups(rs, lines)
    seen: dict[str, int] = {}
    for i, rule in enumerate(rs.rules):
        if rule.id in seen:
            yield problem(i, ("id",), f"duplicate rule id {rule.id!r} (first at rules[{seen[rule.id]}])")
        seen.setdefault(rule.id, i)
        if rule.scope is not None:
            for reason in unknown_nodes(rule.scope, registry):
                yield problem(i, ("scope",), reason)
        if isinstance(rule, OutageRule):
            ref = rs.by_id(rule.of)
            if not isinstance(ref, HeartbeatRule):
                yield problem(i, ("of",), f"{rule.of!r} is not a heartbeat rule")
            for key in ("scope", "schedule"):
                if getattr(rule, key) is not None:
                    yield problem(i, (key,), f"an outage watches its heartbeat rule's devices: no {key} of its own")
            continue
        if isinstance(rule, AbsenceRule | BaselineRule):
            if rule.scope is not None and rule.scope.nodes() and not households_in(rule.scope, registry):
                yield problem(i, ("scope",), "matches no household")
            if isinstance(rule, AbsenceRule) and rule.routine is not None:
                ref = rs.by_id(rule.routine)
                if not isinstance(ref, BaselineRule) or ref.mode != "inactivity":
                    yield problem(i, ("routine",), f"{rule.routine!r} is not a baseline rule of mode inactivity")
            if isinstance(rule, AbsenceRule) and rule.routine is None:
                if rule.quiet_until == "morning":
                    yield problem(i, ("quiet_until",), "morning needs a routine that learns the household's mornings")
                if rule.max_window is not None:
                    yield problem(i, ("max_window",), "max_window bounds a routine: this rule has none")
            continue
        classes = rule.classes() or frozenset(DeviceClass)
        events = set().union(*(events_of(c) for c in classes))
        fields = set().union(*(fields_of(c) for c in classes))
        for key, conds in _conditions(rule):
            for j, c in enumerate(conds):
                for ev in c.event or ():
                    if ev not in events:
                        yield problem(i, (key, j, "event"), f"no {'/'.join(sorted(classes))} message has event {ev!r}")
                for name in (*c.where, *c.delta, *c.rate):
                    if name not in fields:
                        yield problem(i, (key, j), f"no {'/'.join(sorted(classes))} message has field {name!r}")
        for key in ("field", "group_by", "start_offset_field", "per"):
            named = getattr(rule, key, None)
            if named is not None and named not in fields:
                yield problem(i, (key,), f"no {'/'.join(sorted(classes))} message has field {named!r}")
        if isinstance(rule, PerObject):
            for where, reason in _check_per(rule):
                yield problem(i, where, reason)
        if rule.scope is not None and rule.scope.nodes():
            found = devices_in(rule.scope, rule.classes(), registry)
            if found is not None and not found:
                yield problem(i, ("scope",), "matches no device of the rule's classes")


def _check_groups(rs: RuleSet, lines: Lines) -> Iterator[tuple[int | None, str]]:
    """A group joins the alerts of two or more rules about one target: a device, or a household for the
    household rules (absence, baseline), never both. Its name is not a rule id: the ticket of a group is keyed
    `group:target`, which would be the dedup key of that rule's alerts."""
    members: dict[str, list[int]] = {}
    for i, rule in enumerate(rs.rules):
        if rule.group is not None:
            members.setdefault(rule.group, []).append(i)
    ids = {r.id for r in rs.rules}
    for group, at in members.items():
        line, path = lines.find(("rules", at[0], "group"))
        where = f"{path}: group {group!r}"
        if group in ids:
            yield line, f"{where} is also a rule id: their tickets would share keys"
        if len(at) < 2:
            yield line, f"{where} has no other rule: rules naming the same group share one ticket per target"
        household = [rs.rules[i].id for i in at if isinstance(rs.rules[i], AbsenceRule | BaselineRule)]
        if household and len(household) < len(at):
            device = [rs.rules[i].id for i in at if rs.rules[i].id not in household]
            yield (
                line,
                f"{where} mixes household rules ({', '.join(household)}) and device rules ({', '.join(device)}): "
                "a group joins the alerts about one device or one household",
            )


def _check_per(rule: PerObject) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """`per` and `forget_after` (whether `per` names a field is checked with the others)."""
    if rule.per is None:
        if rule.forget_after is not None:
            yield ("forget_after",), "forget_after needs per (it is how long an object is kept)"
        return
    if isinstance(rule, DurationRule) and rule.forget_s() <= rule.for_:
        yield (
            ("forget_after",),
            f"forget_after ({format_duration(rule.forget_s())}) must be longer than for "
            f"({format_duration(rule.for_)}): an object would be forgotten before the rule could raise",
        )


def _conditions(rule: DeviceRule) -> Iterator[tuple[str, list[Condition]]]:
    if isinstance(rule, EventRule):
        yield "match", rule.match
        yield "clear", rule.clear
        yield "cancel", rule.cancel
    elif isinstance(rule, ThresholdRule):
        yield "also", rule.also
        yield "clear", rule.clear
    elif isinstance(rule, DurationRule):
        yield "start", rule.start
        yield "stop", rule.stop
        yield "confirm", rule.confirm
    elif isinstance(rule, CountRule):
        yield "match", rule.match
        yield "clear", rule.clear
