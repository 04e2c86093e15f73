"""The benchmark's pieces work at small sizes (the figures come from `python -m bench.rules`)."""

from __future__ import annotations

from bench.rules.run import ruleset_50, sweep
from tests.rules.support import registry


def test_fifty_rules_load() -> None:
    assert len(ruleset_50(registry()).rules) == 50


def test_sweep_over_households_releases_every_alert() -> None:
    out = sweep(300)
    assert out["idle_alerts"] == 0
    assert out["due_alerts"] == 600  # one absence and one offline alert per household
    assert out["scan_hits"] == 600
