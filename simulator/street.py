"""Loading the registry a scenario names: the sample street (seeded) or a registry exported as CSV."""

from __future__ import annotations

import math
from typing import Any

from simulator.errors import RegistryUnavailableError
from simulator.scenario import Scenario


def registry_for(scenario: Scenario) -> Any:
    """The `devices.registry.Registry` of the scenario's street; the duty roster covers its period."""
    try:
        if scenario.street.registry:
            from devices.csvio import load_registry

            return load_registry(scenario.street.registry)
        from devices.sample import sample_street

        days = max(1, math.ceil((scenario.t1 - scenario.t0) / 86_400) + 1)
        return sample_street(scenario.street.seed, start=scenario.start.date(), days=days)
    except ImportError as e:
        raise RegistryUnavailableError(f"device registry not available: {e}") from None
    except Exception as e:  # devices.errors.DevicesError and friends: translate at the boundary
        if type(e).__module__.startswith("devices"):
            raise RegistryUnavailableError(f"cannot load the registry of {scenario.name!r}: {e}") from None
        raise
