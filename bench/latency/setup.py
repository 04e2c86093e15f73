"""What `bench.latency` measures on: the registry, the targets of each alert kind, the storm's devices, the
rules with short waits, the background stream and the service's configuration (pure, apart from writing the
files it is asked to write)."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from devices.examples import EXAMPLES
from devices.model import Device, DeviceClass
from devices.payloads import Channel
from devices.registry import Registry
from devices.topics import topic_for
from rules.config import default_ruleset_path

HEARTBEAT = {"state": "heartbeat", "battery_pct": 87, "rssi_dbm": -91}
#: classes whose events include `tamper` (the shipped `device_tamper` rule, major): the storm's devices
TAMPER_CLASSES = (
    DeviceClass.SMOKE_DETECTOR,
    DeviceClass.WATER_METER,
    DeviceClass.ACCESS_CONTROL,
    DeviceClass.MANHOLE_COVER,
)


@dataclass(frozen=True, slots=True)
class Waits:
    """The rules' own waits in the bench's rule file and registry."""

    smoke_pending_s: float
    door_held_s: float
    silent_interval_s: int  # the silent devices' `expected_interval_s`; offline after `k` of them
    offline_k: int = 3

    @property
    def silent_s(self) -> float:
        return float(self.silent_interval_s * self.offline_k)


@dataclass(frozen=True, slots=True)
class Kind:
    """One alert kind the bench times: what is published on which device class, which rule's ticket event
    ends the wait (`done`), and the rule's own wait, subtracted from the measured time."""

    name: str
    device_class: DeviceClass
    channel: Channel
    body: dict[str, Any]
    rule_id: str
    done: frozenset[str]
    wait_s: float
    shown: frozenset[str] = frozenset()  # actions that put it on the board before `done` (a verifying alarm)


OPENED = frozenset({"raise", "confirm", "join", "repeat", "reopen"})


def kinds(w: Waits) -> list[Kind]:
    camera = next(e for e in EXAMPLES[(DeviceClass.AI_CAMERA, Channel.EVENT)] if e["event"] == "thrown_object")
    thrown = {k: v for k, v in camera.items() if k not in ("ts", "seq", "snapshot_url", "clip_url")}
    return [
        Kind("thrown object", DeviceClass.AI_CAMERA, Channel.EVENT, thrown, "thrown_object", OPENED, 0.0),
        Kind(
            "forced door",
            DeviceClass.ACCESS_CONTROL,
            Channel.EVENT,
            {"event": "forced_open", "door": "北门"},
            "door_forced",
            OPENED,
            0.0,
        ),
        Kind(
            "smoke alarm",
            DeviceClass.SMOKE_DETECTOR,
            Channel.EVENT,
            {"event": "alarm", "smoke_obscuration_pct": 14.2},
            "smoke_alarm",
            frozenset({"confirm", "raise"}),
            w.smoke_pending_s,
            shown=frozenset({"verify"}),
        ),
        Kind(
            "door held open",
            DeviceClass.ACCESS_CONTROL,
            Channel.EVENT,
            {"event": "held_open", "door": "南门"},
            "door_held_open",
            OPENED,
            w.door_held_s,
        ),
        Kind("device silent", DeviceClass.WATER_METER, Channel.STATUS, HEARTBEAT, "device_offline", OPENED, w.silent_s),
    ]


@dataclass(frozen=True, slots=True)
class Plan:
    registry: Registry
    targets: dict[str, list[str]]  # kind name -> device ids
    storm: list[str]  # device ids that each raise one tamper alert
    microgrid: str  # the leader's and worker's scope: the one with most targets
    community: str
    street: str


def plan(reg: Registry, ks: Sequence[Kind], per_kind: int, storm: int, w: Waits) -> Plan:
    """Pick `per_kind` devices of each kind, from the micro-grid richest in them first (so every role's board
    sees some), and `storm` other devices that can be tampered with. The silent devices get the short
    heartbeat interval of `w`."""
    by_mg: Counter[str] = Counter()
    wanted = {k.device_class for k in ks}
    for d in reg.devices.values():
        if d.device_class in wanted and (p := reg.placement(d.id)) is not None:
            by_mg[p.microgrid_id] += 1
    mg = by_mg.most_common(1)[0][0]
    taken: set[str] = set()
    targets: dict[str, list[str]] = {}
    for k in ks:
        pool = [d for d in reg.devices.values() if d.device_class is k.device_class and d.id not in taken]
        pool.sort(key=lambda d: (_mg(reg, d) != mg, d.id))
        chosen = [d.id for d in pool[:per_kind]]
        if len(chosen) < per_kind:
            raise ValueError(f"only {len(chosen)} {k.device_class.value} devices for {k.name!r}")
        targets[k.name] = chosen
        taken.update(chosen)
    stormers = [d.id for d in reg.devices.values() if d.device_class in TAMPER_CLASSES and d.id not in taken]
    if len(stormers) < storm:
        raise ValueError(f"only {len(stormers)} devices can be tampered with; asked for a storm of {storm}")
    silent = set(targets["device silent"])
    # the class's least silence (`devices.classes`: hours for a battery device) would outlast the bench: the
    # silent devices carry their own limit, as a registry may for a device it knows
    limit = int(w.silent_s)
    changed = [replace(reg.devices[i], expected_interval_s=w.silent_interval_s, offline_after_s=limit) for i in silent]
    reg = reg.with_changes(devices=changed)
    community = reg.community_of(mg)
    assert community is not None
    street = next(iter(reg.streets))
    return Plan(reg, targets, stormers[:storm], mg, community, street)


def _mg(reg: Registry, d: Device) -> str | None:
    p = reg.placement(d.id)
    return p.microgrid_id if p is not None else None


def topic(reg: Registry, device_id: str, channel: Channel) -> str:
    p = reg.placement(device_id)
    assert p is not None
    return topic_for(p.community_id, device_id, channel)


def background(reg: Registry, exclude: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
    """Normal telemetry: each class's first telemetry example (a heartbeat for classes without telemetry), one
    entry per device but those in `exclude` (the targets: a door's `door_open: false` would stop its timer)."""
    skip = set(exclude)
    out = []
    for d in reg.devices.values():
        if d.id in skip:
            continue
        if (d.device_class, Channel.TELEMETRY) in EXAMPLES:
            ex = next(e for e in EXAMPLES[(d.device_class, Channel.TELEMETRY)] if "frozen" not in e)
            body = {k: v for k, v in ex.items() if k not in ("ts", "seq")}
            out.append((topic(reg, d.id, Channel.TELEMETRY), body))
        else:
            out.append((topic(reg, d.id, Channel.STATUS), dict(HEARTBEAT)))
    return out


def write_rules(path: Path, w: Waits) -> None:
    """The shipped rules with the bench's short waits (a smoke alarm's verification, a door held open)."""
    doc = yaml.safe_load(default_ruleset_path().read_text(encoding="utf-8"))
    for rule in doc["rules"]:
        if rule["id"] == "smoke_alarm":
            rule["pending"] = _dur(w.smoke_pending_s)
        elif rule["id"] == "door_held_open":
            rule["for"] = _dur(w.door_held_s)
        elif rule["id"] == "device_offline":
            rule["k"] = w.offline_k
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _dur(seconds: float) -> str:
    return f"{math.ceil(seconds)}s"


def write_config(
    path: Path,
    *,
    work: Path,
    http_port: int,
    broker_port: int,
    pg_url: str,
    influx_url: str,
    metrics_token: str,
    registry_in_store: bool = False,
) -> None:
    """The service's configuration. With `registry_in_store` it reads the registry from the store (imported
    beforehand with `cwatch registry import`); otherwise it imports the CSV folder at every start."""
    registry = "" if registry_in_store else f'[registry]\npath = "{work / "registry"}"\n'
    path.write_text(
        f"""
data_dir = "{work / "data"}"
log_level = "INFO"
[http]
port = {http_port}
metrics_token = "{metrics_token}"
[mqtt]
url = "mqtt://127.0.0.1:{broker_port}"
client_id = "cwatch-bench-latency"
[store]
url = "{pg_url}"
[telemetry]
backend = "influx_v1"
influx_url = "{influx_url}"
influx_database = "bench"
[ingest]
telemetry_drain = "process"
[rules]
path = "{work / "rules.yaml"}"
sweep_every_s = 15
{registry}""",
        encoding="utf-8",
    )


def write_stream(path: Path, stream: list[tuple[str, dict[str, Any]]]) -> None:
    path.write_text(json.dumps(stream, ensure_ascii=False), encoding="utf-8")
