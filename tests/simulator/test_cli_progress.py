"""`cwatch simulate run` on a terminal shows the simulated hours done of the scenario's and the time left;
elsewhere (a pipe, CI) it prints only its summary line."""

from __future__ import annotations

import argparse
import io
import sys

import pytest

from simulator.cli import _by_simulated_time
from simulator.message import SimMessage


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _messages(hours: int) -> list[SimMessage]:
    return [SimMessage(ts=1000.0 + h * 3600 + k, topic=f"t/{k}", payload=b"{}") for h in range(hours) for k in range(3)]


def test_on_a_terminal_the_bar_has_a_total_and_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    monkeypatch.setenv("CWATCH_LANG", "en")
    msgs = _messages(24)
    out = list(_by_simulated_time(msgs, 1000.0, 1000.0 + 24 * 3600, argparse.Namespace(no_progress=False)))
    assert out == msgs
    shown = screen.getvalue()
    assert "/24.0 simulated h" in shown
    assert "<" in shown  # elapsed<remaining
    assert "messages" in shown


def test_off_a_terminal_or_asked_not_to_nothing_is_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    msgs = _messages(2)
    assert list(_by_simulated_time(msgs, 1000.0, 1000.0 + 7200, argparse.Namespace(no_progress=False))) == msgs
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    assert list(_by_simulated_time(msgs, 1000.0, 1000.0 + 7200, argparse.Namespace(no_progress=True))) == msgs
    assert pipe.getvalue() == screen.getvalue() == ""


def test_the_bar_speaks_the_clis_language(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    monkeypatch.setenv("CWATCH_LANG", "zh-CN")
    msgs = _messages(3)
    assert list(_by_simulated_time(msgs, 1000.0, 1000.0 + 3 * 3600, argparse.Namespace(no_progress=False))) == msgs
    shown = screen.getvalue()
    assert "/3.0 模拟小时" in shown
    assert "条消息" in shown
    assert "simulated" not in shown
