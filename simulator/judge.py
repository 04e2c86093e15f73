"""Judging a simulation with the real rule engine in-process: decode every message as the ingester does,
feed the readings to `rules.engine.Engine` in publish order, and collect the alerts for the scorer.

This is the fast path to a scoring report (no broker, no database); the same messages can also go through
the whole service over MQTT (`cwatch simulate run --publish`). It is the one module of the simulator that imports
`ingest` and `rules` (the import contract, tests/test_imports.py, holds the rest to `devices` and `core`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.clock import ManualClock
from ingest.decode import Decoder
from ingest.refusals import Refused
from rules.config import default_ruleset_path, load_ruleset
from rules.engine import Engine
from simulator.message import SimMessage


@dataclass(slots=True)
class Judged:
    alerts: list[Any] = field(default_factory=list)  # rules.alert.Alert
    messages: int = 0
    readings: int = 0
    refused: dict[str, int] = field(default_factory=dict)


def alert_json(alert: Any) -> dict[str, Any]:
    """An `Alert` as plain JSON (enums as their values), the format `simulator.score.read_alerts` reads."""
    import msgspec

    row = msgspec.structs.asdict(alert)
    return {k: getattr(v, "value", v) for k, v in row.items()}


def judge(
    messages: Iterable[SimMessage],
    registry: Any,
    *,
    rules_path: str | Path | None = None,
    end: float | None = None,
    progress: Any = None,
) -> Judged:
    """Run messages through the decoder and the engine with the default (or given) rule set; at the end
    the watermark is moved to `end` so timers that came due (durations, silences) fire."""
    ruleset = load_ruleset(Path(rules_path) if rules_path else default_ruleset_path(), registry)
    engine = Engine(ruleset, registry)
    clock = ManualClock()
    decoder = Decoder(registry, clock)
    out = Judged()
    for m in messages:
        out.messages += 1
        clock.set(m.ts)
        try:
            readings = decoder.decode(m.topic, m.payload, retain=False, received_at=m.ts)
        except Refused as e:
            key = str(getattr(e, "reason", "refused"))
            out.refused[key] = out.refused.get(key, 0) + 1
            continue
        for r in readings:
            out.readings += 1
            out.alerts.extend(engine.process(r))
        if progress is not None:
            progress.update(1)
    if end is not None:
        out.alerts.extend(engine.advance(end))
    return out
