"""Every package's own error hierarchy derives from the one base, so the CLI shows any of them as one line."""

from __future__ import annotations

import pytest

from alerts.errors import AlertsError
from core.errors import CwatchError
from cwatch.cli import main
from cwatch.errors import ServiceError
from devices.errors import DevicesError
from ingest.errors import IngestError
from rules.errors import RulesError
from simulator.errors import SimulatorError


@pytest.mark.parametrize(
    "base", [DevicesError, IngestError, RulesError, AlertsError, SimulatorError, ServiceError], ids=lambda c: c.__name__
)
def test_each_package_error_is_a_cwatch_error(base: type[Exception]) -> None:
    assert issubclass(base, CwatchError)


def test_the_cli_shows_a_package_error_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(_settings: object, _path: object) -> object:
        raise RulesError("rules.yaml:3: rules[0].kind: unknown kind 'smok'")

    monkeypatch.setattr("cwatch.commands.check_rules", fail)
    assert main(["rules", "check"]) == 2
    assert capsys.readouterr().err == "cwatch: rules.yaml:3: rules[0].kind: unknown kind 'smok'\n"
