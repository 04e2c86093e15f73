"""Long CLI work shows a bar with a total and the time left on a terminal, and nothing but its summary line
elsewhere: a registry import reports the rows it checked and saved."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cwatch.progressbar import terminal_progress
from devices.csvio import load_registry, save_registry
from devices.sample import sample_street


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_an_import_reports_every_row_against_the_total(tmp_path: Path) -> None:
    reg = sample_street(1)
    save_registry(reg, tmp_path)
    heard: list[tuple[str, int, int]] = []
    loaded = load_registry(tmp_path, lambda stage, done, total: heard.append((stage, done, total)))
    assert loaded == reg
    stages = {s for s, _, _ in heard}
    assert stages == {"read"}
    total = heard[0][2]
    assert total >= len(reg.devices) + len(reg.households)
    assert heard[-1] == ("read", total, total)
    dones = [d for _, d, _ in heard]
    assert dones == sorted(dones)
    assert len(heard) > 2  # reported on the way, not only at both ends


def test_on_a_terminal_a_bar_per_stage_with_total_and_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CWATCH_LANG", "en")
    screen = Terminal()
    with terminal_progress(screen) as progress:
        for done in range(0, 100_001, 20_000):
            progress("read", done, 100_000)
        progress("save", 50_000, 100_000)
    shown = screen.getvalue()
    assert "checking rows" in shown
    assert "saving rows" in shown
    assert "100k/100k" in shown
    assert "<" in shown  # elapsed<remaining


def test_the_bar_speaks_the_clis_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CWATCH_LANG", "zh-CN")
    screen = Terminal()
    with terminal_progress(screen) as progress:
        progress("read", 100, 100)
        progress("save", 100, 100)
    shown = screen.getvalue()
    assert "检查各行" in shown
    assert "保存各行" in shown
    assert "rows" not in shown


def test_off_a_terminal_nothing_is_drawn() -> None:
    pipe = io.StringIO()
    with terminal_progress(pipe) as progress:
        progress("read", 10, 100)
    assert pipe.getvalue() == ""
