"""The simulator's one exception hierarchy. Errors of dependencies (YAML, pydantic, paho, OS) are translated
into these at the boundary so callers (the CLI, tests, the benchmarks) catch one family."""

from __future__ import annotations

from core.errors import CwatchError


class SimulatorError(CwatchError):
    """Base of every error the simulator raises on purpose."""


class ScenarioError(SimulatorError):
    """A scenario file is unreadable or invalid; the message names the file and line."""


class IncidentError(ScenarioError):
    """An incident cannot be placed on the registry (no matching device or household)."""


class PublishError(SimulatorError):
    """The MQTT broker refused a connection or did not acknowledge what was published."""


class RecordingError(SimulatorError):
    """A recording (JSON Lines) or CSV import file is malformed."""


class RegistryUnavailableError(SimulatorError):
    """The device registry (devices.sample / devices.registry) could not be loaded."""
