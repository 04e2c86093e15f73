"""Loading the registry a scenario names: the sample street (seeded) or a registry exported as CSV."""

from __future__ import annotations

import math

from devices.csvio import load_registry
from devices.errors import DevicesError
from devices.registry import Registry
from devices.sample import sample_street
from simulator.errors import RegistryUnavailableError
from simulator.scenario import Scenario


def registry_for(scenario: Scenario) -> Registry:
    """The registry of the scenario's street; the duty roster covers its period."""
    try:
        if scenario.street.registry:
            return load_registry(scenario.street.registry)
        days = max(1, math.ceil((scenario.t1 - scenario.t0) / 86_400) + 1)
        return sample_street(scenario.street.seed, start=scenario.start.date(), days=days)
    except DevicesError as e:  # translated at the boundary
        raise RegistryUnavailableError(f"cannot load the registry of {scenario.name!r}: {e}") from None
