"""Fixtures of the simulator tests: the sample street and small scenarios built in code."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from devices.registry import Registry
from devices.sample import sample_street
from simulator.scenario import Scenario, parse_scenario


@pytest.fixture(scope="session")
def street() -> Registry:
    """The sample street with a roster for the scenarios' first week."""
    return sample_street(1, start=date(2026, 3, 2), days=8)


def scenario(**fields: Any) -> Scenario:
    """A scenario from keyword fields (YAML-like values), starting Monday 2026-03-02 00:00 China time."""
    import yaml

    data: dict[str, Any] = {"name": "t", "seed": 5, "start": "2026-03-02T00:00:00+08:00", **fields}
    return parse_scenario(yaml.safe_dump(data, allow_unicode=True), "<test>")
