"""`cwatch simulate run --start`: a time that is not one is a one-line usage error, not a traceback."""

from __future__ import annotations

from datetime import datetime

import pytest

from simulator.cli import main
from simulator.message import CST


def test_a_start_that_is_not_a_time_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["run", "--scenario", "week", "--start", "yesterday", "--limit", "1"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "argument --start: start must be a time like" in err
    assert "Traceback" not in err


def test_a_start_without_an_offset_is_china_time() -> None:
    from simulator.cli import _start

    assert _start("2026-05-01T08:00:00") == datetime(2026, 5, 1, 8, tzinfo=CST)
    assert _start("now").tzinfo is CST
