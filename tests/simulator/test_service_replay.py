"""The smoke-test scenario (6 hours of the whole street, ~68,000 messages) through the real service over a
real Mosquitto, on a virtual clock at 600x: every injected incident becomes a ticket in time. Slow (~1 min)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.scenario import load_scenario
from tests.simulator.service_replay import replay_through_service
from tests.support.services import MosquittoProcess


@pytest.mark.slow
async def test_smoke_test_scenario_through_the_service(mosquitto: MosquittoProcess, tmp_path: Path) -> None:
    run = await replay_through_service(
        load_scenario("smoke-test"), mosquitto.port, tmp_path, speed=300, sweep=900, lateness=7200
    )
    assert run.published.acknowledged == run.published.published > 60_000
    missed = [(t.incident, t.rule_id, t.target) for t in run.report.missed]
    assert missed == []
    assert run.report.recall == 1.0
