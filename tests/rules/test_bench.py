"""The benchmark's pieces work at small sizes (the figures come from `python -m bench.rules`)."""

from __future__ import annotations

from pathlib import Path

from bench.rules.run import ruleset_50, sweep
from tests.rules.support import registry


def test_fifty_rules_load() -> None:
    assert len(ruleset_50(registry()).rules) == 50


def test_sweep_over_households_releases_every_alert() -> None:
    out = sweep(300)
    assert out["idle_alerts"] == 0
    assert out["due_alerts"] == 600  # one absence and one offline alert per household
    assert out["scan_hits"] == 600


def test_the_scoring_cache_is_named_after_what_made_the_data(tmp_path: Path) -> None:
    from bench.rules.score import fingerprint

    (tmp_path / "simulator" / "models").mkdir(parents=True)
    (tmp_path / "scenarios").mkdir()
    model = tmp_path / "simulator" / "models" / "water.py"
    model.write_text("LATE_RISING_P = 0.12\n")
    (tmp_path / "scenarios" / "week.yaml").write_text("days: 7\n")
    before = fingerprint(tmp_path)
    assert fingerprint(tmp_path) == before
    model.write_text("LATE_RISING_P = 0.08\n")  # a changed simulator never reuses the week made before
    assert fingerprint(tmp_path) != before
