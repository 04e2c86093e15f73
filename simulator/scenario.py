"""YAML scenarios: a street, a period, background behaviour and injected incidents, validated with pydantic.

A validation error names the file and the line of the offending field (unknown fields are errors), because
scenario files are written by hand and a silently ignored typo would make a test prove nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from simulator.errors import ScenarioError
from simulator.message import CST
from simulator.timeparse import as_local, parse_duration, parse_instant

IncidentKind = Literal[
    "elderly_fall",
    "kitchen_fire",
    "thrown_object",
    "door_forced",
    "door_held_open",
    "face_fail_burst",
    "duress",
    "tap_left_running",
    "meter_silent",
    "device_offline",
    "fire_lane_blocked",
    "ebike_in_elevator",
    "shed_smoke",
    "gas_leak",
    "manhole_open",
    "trash_fire",
    "water_leak",
    "charger_overheat",
    "gateway_outage",
    "power_cut",
    "network_outage",
]
INCIDENT_KINDS: tuple[str, ...] = IncidentKind.__args__  # type: ignore[attr-defined]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StreetSpec(_Strict):
    """Which registry to simulate: the sample street generated from `seed`, or a registry CSV directory."""

    seed: int = 1
    registry: str | None = Field(default=None, description="Path to a registry exported by `devices` (CSV).")


class IncidentSpec(_Strict):
    """One injected incident. Targets are chosen deterministically when not given."""

    kind: IncidentKind
    at: str | datetime
    target: str | None = Field(default=None, description="A device id or household id.")
    building: int | str | None = Field(default=None, description="1-based building index, or a building id.")
    floor: int | None = None
    duration: str | float | None = None
    note: str = ""
    microgrid: str | None = Field(
        default=None, description="Prefer a device in this micro-grid (anywhere when none there can show it)."
    )


class IncidentStream(_Strict):
    """For the demo: one incident every `every`, cycling through `kinds`, from `first` on."""

    every: str | float = "20s"
    first: str | float = "10s"
    kinds: list[IncidentKind] = Field(min_length=1)
    focus: str | None = Field(
        default=None,
        description="A micro-grid that gets every other incident (the demo's: its accounts' own micro-grid).",
    )


class Background(_Strict):
    """Rates of the things that happen without anyone injecting them (all per device unless stated)."""

    smoke_nuisance_per_day: float = Field(default=0.002, ge=0, description="Cooking alarms per detector-day.")
    smoke_fault_per_week: float = Field(default=0.002, ge=0)
    tamper_per_week: float = Field(default=0.0005, ge=0)
    offline_per_week: float = Field(default=0.004, ge=0, description="Network outage episodes per device-week.")
    skew_fraction: float = Field(default=0.03, ge=0, le=1, description="Devices whose clock is off by seconds.")
    camera_false_positives_per_day: float = Field(default=0.6, ge=0, description="Birds, leaves, rain.")
    rain_days: list[int] = Field(default_factory=list, description="Days (1-based) with rain: more false positives.")
    offline_k: float = Field(default=3.0, gt=0, description="Silence of k x expected interval is 'offline'.")


class Scenario(_Strict):
    name: str
    description: str = ""
    seed: int = 0
    street: StreetSpec = Field(default_factory=StreetSpec)
    start: datetime
    days: float = 0
    hours: float = 0
    speed: float | None = Field(default=None, description="Default pacing: None = as fast as possible.")
    background: Background = Field(default_factory=Background)
    incidents: list[IncidentSpec] = Field(default_factory=list)
    incident_stream: IncidentStream | None = None
    media_base: str = Field(
        default="http://nvr.local",
        description="Where cameras' snapshot URLs point: <media_base>/snap/<device>/<n>.jpg (the demo serves them).",
    )

    @field_validator("start", mode="before")
    @classmethod
    def _now(cls, v: Any) -> Any:
        """`start: now` (the demo): the current minute, so the service sees fresh device times."""
        if isinstance(v, str) and v.strip().lower() == "now":
            return datetime.now(CST).replace(second=0, microsecond=0)
        return v

    @field_validator("start")
    @classmethod
    def _local(cls, v: datetime) -> datetime:
        return as_local(v)

    @property
    def t0(self) -> float:
        return self.start.timestamp()

    @property
    def t1(self) -> float:
        return self.t0 + self.days * 86_400 + self.hours * 3_600

    def end_datetime(self) -> datetime:
        return self.start + timedelta(seconds=self.t1 - self.t0)

    def incident_specs(self) -> list[IncidentSpec]:
        """The listed incidents plus those of the incident stream, in time order of their definition."""
        specs = list(self.incidents)
        s = self.incident_stream
        if s is not None:
            step, t = parse_duration(s.every), parse_duration(s.first)
            i = 0
            while self.t0 + t < self.t1:
                focus = s.focus if i % 2 == 0 else None
                specs.append(IncidentSpec(kind=s.kinds[i % len(s.kinds)], at=f"+{t}s", microgrid=focus))
                t += step
                i += 1
        return specs

    def validate_times(self) -> None:
        if self.t1 <= self.t0:
            raise ScenarioError(f"scenario {self.name!r}: days/hours give an empty period")
        for i, inc in enumerate(self.incidents):
            try:
                at = parse_instant(inc.at, self.start)
                if inc.duration is not None:
                    parse_duration(inc.duration)
            except ValueError as e:
                raise ScenarioError(f"scenario {self.name!r}, incident {i + 1} ({inc.kind}): {e}") from None
            if not self.t0 <= at < self.t1:
                raise ScenarioError(f"scenario {self.name!r}, incident {i + 1} ({inc.kind}) is outside the period")


def _line_index(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value
            out[(*path, key)] = k.start_mark.line + 1
            _line_index(v, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _line_index(v, (*path, i), out)


def _line_of(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int:
    """The line of the deepest part of a pydantic error location that exists in the document (union members
    add their type names to the location; those are skipped)."""
    path: tuple[Any, ...] = ()
    for part in loc:
        if (*path, part) in lines:
            path = (*path, part)
    return lines.get(path, 1)


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Parse and validate scenario YAML; errors say `source:line: field: problem`."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ScenarioError(f"{source}: not valid YAML: {e}") from None
    if not isinstance(data, dict) or node is None:
        raise ScenarioError(f"{source}:1: a scenario is a mapping with name, start, days/hours, incidents")
    lines: dict[tuple[Any, ...], int] = {}
    _line_index(node, (), lines)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(p) for p in loc)
            problems.append(f"{source}:{_line_of(loc, lines)}: {field}: {err['msg']}")
        raise ScenarioError("\n".join(problems)) from None
    scenario.validate_times()
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario file; a bare name ("week") is looked up in the shipped `simulator/scenarios/`."""
    p = Path(path)
    if not p.exists():
        for candidate in (SCENARIO_DIR / f"{path}.yaml", SCENARIO_DIR / str(path)):
            if candidate.exists():
                p = candidate
                break
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError(f"{path}: cannot read scenario: {e.strerror}") from None
    return parse_scenario(text, str(p))


SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
