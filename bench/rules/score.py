"""Score the rule engine on a simulator scenario and write docs/rules-scoring.md.

    python -m bench.rules.score [--scenario week] [--rules rules.yaml] [--out docs/rules-scoring.md]

The scenario is generated and decoded once (by the simulator and the ingester's `Decoder`, exactly as
`cwatch simulate evaluate` does) and cached under `var/bench-rules/`, so rule changes are re-scored in a
minute. The cache file is named after a hash of everything that makes the data (the simulator, the
registry and payload code, the decoder, the scenario file): a changed simulator is never scored from a week
it generated before the change. The readings go through `Engine.process` in publish order, with
`Engine.advance` every minute of event time minus the allowed lateness (as `RuleRunner` does in the
service), and the alerts are scored by `simulator.score`. Besides the scorer's table, the report breaks
false alerts down by cause and gives the false no-water alerts per watched household-month."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import pickle
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from core.clock import ManualClock
from devices.reading import Reading
from ingest.decode import Decoder
from ingest.refusals import Refused
from rules.alert import Alert, AlertAction
from rules.config import default_ruleset_path, load_ruleset
from rules.engine import Engine, EngineState
from simulator.generate import Simulation
from simulator.judge import alert_json
from simulator.scenario import load_scenario
from simulator.score import score, to_markdown
from simulator.street import registry_for

CACHE = Path("var/bench-rules")
ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("simulator", "devices", "ingest/decode.py", "ingest/decode_fast.py", "ingest/refusals.py", "scenarios")
"""What the cached readings and ground truth are made from (relative to the repository)."""


def fingerprint(root: Path = ROOT) -> str:
    """A short hash of the `SOURCES`' contents: part of every cache file's name."""
    h = hashlib.sha256()
    for name in SOURCES:
        base = root / name
        files = sorted(p for p in base.rglob("*") if p.suffix in (".py", ".yaml")) if base.is_dir() else [base]
        for p in files:
            if p.is_file():
                h.update(p.relative_to(root).as_posix().encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:12]


def generate(scenario_name: str) -> tuple[Any, list[Reading], list[Any], float, float, float, int]:
    """(registry, readings, truths, start, end, watched household-months, messages)."""
    scenario = load_scenario(scenario_name)
    registry = registry_for(scenario)
    sim = Simulation(registry, scenario)
    clock = ManualClock()
    decoder = Decoder(registry, clock)
    readings: list[Reading] = []
    n = 0
    for m in sim.messages():
        n += 1
        clock.set(m.ts)
        with contextlib.suppress(Refused):
            readings.extend(decoder.decode(m.topic, m.payload, retain=False, received_at=m.ts))
    return registry, readings, sim.ground_truth(), sim.start, sim.end, sim.watched_household_months(), n


def warmup(scenario_name: str, days: int, registry: Any) -> list[Reading]:
    """`days` of ordinary life before the scenario (same street, seed and routines, no incidents) for the
    watched households' meters only: the history a running service would have learned its routines from."""
    scenario = load_scenario(scenario_name)
    before = scenario.model_copy(
        update={"start": scenario.start - timedelta(days=days), "days": days, "hours": 0, "incidents": []}
    )
    meters = [
        d.id
        for d in registry.devices.values()
        if d.device_class.value == "water_meter" and d.household_id and registry.households[d.household_id].care.watched
    ]
    clock = ManualClock()
    decoder = Decoder(registry, clock)
    out: list[Reading] = []
    for m in Simulation(registry, before).messages(devices=meters):
        clock.set(m.ts)
        with contextlib.suppress(Refused):
            out.extend(decoder.decode(m.topic, m.payload, retain=False, received_at=m.ts))
    return out


def _cached(name: str, make: Any) -> Any:
    path = CACHE / f"{name}-{fingerprint()}.pickle"
    if path.exists():
        with path.open("rb") as f:
            return pickle.load(f)
    data = make()
    CACHE.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
    return data


def load(scenario_name: str) -> tuple[Any, list[Reading], list[Any], float, float, float, int]:
    return _cached(scenario_name, lambda: generate(scenario_name))  # type: ignore[no-any-return]


def judge(
    registry: Any, readings: list[Reading], rules_path: Path, end: float, lateness: float, history: list[Reading]
) -> list[Alert]:
    """Alerts of the scenario's readings. `history` readings are learned first by an engine of their own, and
    only the learned baselines are carried over (as a service would have them after weeks of running)."""
    ruleset = load_ruleset(rules_path, registry)
    state = None
    if history:
        warm = Engine(ruleset, registry, allowed_lateness_s=lateness)
        for r in history:
            warm.process(r)
        learned = {k: v for k, v in warm.state().rules.items() if v.get("kind") == "baseline"}
        state = EngineState(rules=learned)
    eng = Engine(ruleset, registry, allowed_lateness_s=lateness, state=state)
    out: list[Alert] = []
    next_sweep = readings[0].ts if readings else end
    for r in readings:
        if r.ts >= next_sweep:
            out += eng.advance(next_sweep - lateness)
            next_sweep = r.ts + 60
        out += eng.process(r)
    out += eng.advance(end)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.rules.score")
    p.add_argument("--scenario", default="week")
    p.add_argument("--rules", type=Path, default=default_ruleset_path())
    p.add_argument("--out", type=Path, help="write the Markdown report here (default: stdout)")
    p.add_argument("--alerts", type=Path, help="write the alerts here (JSON Lines)")
    p.add_argument("--lateness", type=float, default=300.0)
    p.add_argument("--warmup-days", type=int, default=0, help="days of watched households' history fed first")
    a = p.parse_args(argv)

    t = time.perf_counter()
    registry, readings, truths, _start, end, hh_months, n_messages = load(a.scenario)
    history: list[Reading] = []
    if a.warmup_days:
        history = _cached(f"{a.scenario}-warmup{a.warmup_days}", lambda: warmup(a.scenario, a.warmup_days, registry))
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    alerts = judge(registry, readings, a.rules, end, a.lateness, history)
    judge_s = time.perf_counter() - t
    if a.alerts:
        import json

        with a.alerts.open("w", encoding="utf-8") as f:
            for al in alerts:
                f.write(json.dumps(alert_json(al), ensure_ascii=False, separators=(",", ":")) + "\n")
    report = score(truths, alerts, watched_household_months=hh_months)
    raised = Counter(al.rule_id for al in alerts if al.action is AlertAction.RAISE)
    notes = [
        f"Scenario `{a.scenario}`: {n_messages} messages, {len(readings)} readings, {len(truths)} ground-truth "
        f"records ({sum(1 for x in truths if x.required)} required); rules `{a.rules.name}`; "
        f"allowed lateness {a.lateness:.0f} s, a sweep every minute of event time; "
        + (
            f"{a.warmup_days} days of the watched households' meter history fed first ({len(history)} readings)."
            if a.warmup_days
            else "no history before the scenario (cold start)."
        ),
        f"Generated and decoded in {load_s:.0f} s (cached), judged in {judge_s:.0f} s "
        f"({judge_s / max(1, len(readings)) * 1e6:.1f} µs per reading on this machine).",
        "",
        "Raises by rule (all episodes and repeats): "
        + ", ".join(f"`{k}` {v}" for k, v in sorted(raised.items(), key=lambda kv: -kv[1])),
    ]
    md = to_markdown(report, title=f"Rules scoring: {a.scenario}", notes=notes)
    if report.false:
        md += "\n## False alerts\n\n| rule | target | time (epoch) |\n| --- | --- | ---: |\n"
        for fa in sorted(report.false, key=lambda x: (x.rule_id, x.ts)):
            md += f"| `{fa.rule_id}` | {fa.device_id or fa.household_id} | {fa.ts:.0f} |\n"
    if a.out:
        a.out.write_text(md, encoding="utf-8")
    else:
        print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
