"""The CLI speaks the language of its environment: `CWATCH_LANG`, else the locale; English otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from cwatch.cli import main


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cfg = tmp_path / "cwatch.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    monkeypatch.setenv("CWATCH_CONFIG", str(cfg))
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "CWATCH_LANG"):
        monkeypatch.delenv(name, raising=False)
    return cfg


def test_messages_and_errors_in_chinese_under_cwatch_lang(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    monkeypatch.setenv("CWATCH_LANG", "zh_CN")
    assert main(["registry", "sample", str(tmp_path / "s")]) == 0
    assert "已将示例street写入" in capsys.readouterr().out
    # an error of the store before the registry is there, then one of `alerts` (a password too short)
    monkeypatch.setenv("CWATCH_NEW_PASSWORD", "twelve-chars")
    assert main(["accounts", "add", "wf", "--role", "grid_worker"]) == 2
    assert capsys.readouterr().err == "cwatch：请给出 --scope（或 --person，账号沿用其范围）\n"
    monkeypatch.setenv("CWATCH_NEW_PASSWORD", "short")
    assert main(["accounts", "add", "wf", "--role", "grid_worker", "--scope", "x"]) == 2
    assert capsys.readouterr().err == "cwatch：密码至少需要 12 个字符\n"


def test_english_without_a_language_and_under_an_english_locale(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registry", "sample", str(tmp_path / "s")]) == 0
    assert capsys.readouterr().out.startswith("wrote a sample street to ")
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    monkeypatch.setenv("LC_ALL", "en_GB.UTF-8")
    monkeypatch.setenv("CWATCH_NEW_PASSWORD", "short")
    assert main(["accounts", "add", "wf", "--role", "grid_worker", "--scope", "x"]) == 2
    assert capsys.readouterr().err == "cwatch: password must have at least 12 characters\n"


def test_help_is_in_the_cli_language(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CWATCH_LANG", "zh_CN")
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out
    assert "监测社区设备，派发工单。" in shown
    assert "在一个进程中运行整个服务" in shown
    with pytest.raises(SystemExit):
        main(["registry", "sample", "--help"])
    assert "约 195,000 台设备" in capsys.readouterr().out
    monkeypatch.setenv("CWATCH_LANG", "en")
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "run the whole service in one process" in capsys.readouterr().out
