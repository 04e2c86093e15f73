"""The CLI speaks the language of its environment: `CWATCH_LANG`, else the locale; English otherwise."""

from __future__ import annotations

import csv
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


def edit_first_row(path: Path, **cells: str) -> None:
    """Set `cells` in the first data row of the registry CSV at `path` (a sample written by the CLI)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    rows[0].update(cells)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.parametrize(
    ("lang", "shown"),
    [
        ("zh_CN", "cwatch：登记信息被拒绝：1 个问题\n  devices.csv:2: offline_after_s: 'a day'：应为时长：整秒数"),
        ("en", "cwatch: registry refused: 1 problem\n  devices.csv:2: offline_after_s: 'a day': expected a duration"),
    ],
)
def test_a_bad_registry_cell_is_named_in_the_cli_language(
    lang: str,
    shown: str,
    tmp_path: Path,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The reason is in the CLI's language; the file, line and column stay as written."""
    assert main(["registry", "sample", str(tmp_path / "s")]) == 0
    edit_first_row(tmp_path / "s" / "devices.csv", offline_after_s="a day")
    capsys.readouterr()
    monkeypatch.setenv("CWATCH_LANG", lang)
    assert main(["registry", "import", str(tmp_path / "s")]) == 2
    assert capsys.readouterr().err.startswith(shown)


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
    assert "约 195,000 台设备" in " ".join(capsys.readouterr().out.split())  # wrapped at the space after 约
    monkeypatch.setenv("CWATCH_LANG", "en")
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "run the whole service in one process" in capsys.readouterr().out


def test_argparses_own_words_follow_the_cli_language(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "usage:", "options", "show this help message and exit" and argparse's error lines, and the options of
    `registry sample` and `simulate`, in Chinese under a Chinese CLI language; argparse's English otherwise."""
    monkeypatch.setenv("CWATCH_LANG", "zh_CN")
    with pytest.raises(SystemExit):
        main(["registry", "sample", "--help"])
    shown = capsys.readouterr().out
    assert shown.startswith("用法：cwatch registry sample")
    assert "\n选项：\n" in shown  # Chinese writes the full-width colon, not argparse's ASCII one
    assert "显示此帮助并退出" in shown
    assert "\n位置参数：\n" in shown
    assert [line for line in shown.splitlines() if line.endswith(":")] == []
    assert "写入示例登记表 CSV 的文件夹" in shown
    assert "随机种子" in shown
    assert "usage" not in shown
    assert "show this help" not in shown
    with pytest.raises(SystemExit):
        main(["simulate", "run", "--help"])
    shown = capsys.readouterr().out
    assert "场景 YAML 文件或内置场景名" in shown
    assert "MQTT 代理端口" in shown
    with pytest.raises(SystemExit) as exit_:
        main(["registry", "sample", "s", "--size", "town"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "cwatch registry sample：错误：参数 --size：无效的选择：'town'" in err
    with pytest.raises(SystemExit):
        main(["registry", "sample"])
    assert "缺少必需的参数：folder" in capsys.readouterr().err

    monkeypatch.setenv("CWATCH_LANG", "en")
    with pytest.raises(SystemExit):
        main(["registry", "sample", "--help"])
    shown = capsys.readouterr().out
    assert shown.startswith("usage: cwatch registry sample")
    assert "\npositional arguments:\n" in shown
    assert "\noptions:\n" in shown
    assert "show this help message and exit" in shown
    assert "the folder to write the sample registry" in shown
    with pytest.raises(SystemExit):
        main(["registry", "sample"])
    assert "error: the following arguments are required: folder" in capsys.readouterr().err


@pytest.mark.parametrize(("lang", "prefix"), [("zh_CN", "用法："), ("en", "usage: ")])
def test_usage_lines_align_under_the_program_name(
    lang: str, prefix: str, config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrapped usage continues where its first line's arguments start, counted in terminal columns ("用法：" is
    three characters but six columns), and no usage line is wider than the terminal."""
    from core.cliwords import display_width

    monkeypatch.setenv("CWATCH_LANG", lang)
    monkeypatch.setenv("COLUMNS", "60")  # argparse wraps to 58
    with pytest.raises(SystemExit):
        main(["simulate", "run", "--help"])
    usage = capsys.readouterr().out.split("\n\n")[0].splitlines()
    assert usage[0].startswith(f"{prefix}cwatch simulate run [-h]")
    assert len(usage) > 2
    column = display_width(f"{prefix}cwatch simulate run ")
    for line in usage[1:]:
        assert len(line) - len(line.lstrip(" ")) == column, usage
    assert max(display_width(line) for line in usage) <= 58, usage


def test_argparse_is_itself_again_after_the_cli() -> None:
    """The translation holds only while the CLI parses: argparse elsewhere in the process is untouched."""
    import argparse

    from core.cliwords import argparse_in

    with argparse_in("zh-CN"):
        assert argparse.ArgumentParser(prog="x").format_usage().startswith("用法：")
    assert argparse.ArgumentParser(prog="x").format_usage().startswith("usage: ")


def test_the_catalog_repeats_argparses_english_words() -> None:
    """Each text `core.cliwords` translates is argparse's own (same English in the catalog), so a lookup finds it."""
    import argparse
    import inspect

    from core.cliwords import KEYS
    from core.i18n import EN, catalog

    source = inspect.getsource(argparse)
    for message, key in KEYS.items():
        assert catalog()[f"cli.argparse.{key}"][EN] == message
        assert repr(message)[1:-1] in source or message.replace("\n", "\\n") in source, message


@pytest.mark.parametrize("command", [[], ["audit"], ["registry", "sample"], ["serve"]])
def test_chinese_help_fits_the_terminal_by_display_width(
    command: list[str], config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Help texts are wrapped by terminal columns (a Chinese character takes two), so no line that can break runs
    past the terminal; only a list of choices, which has no place to break, may."""
    from core.cliwords import display_width

    monkeypatch.setenv("CWATCH_LANG", "zh_CN")
    monkeypatch.setenv("COLUMNS", "60")  # argparse wraps to 58
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    shown = capsys.readouterr().out
    assert "选项" in shown
    for line in shown.splitlines():
        assert display_width(line) <= 58 or "{" in line, line


def test_wrapping_by_columns_breaks_between_chinese_characters_not_before_punctuation() -> None:
    from core.cliwords import display_width, wrap_columns

    lines = wrap_columns("列出审计日志，最新在前（JSON 行）：账号、维护静默、外出、登记信息", 20)
    assert "".join(lines).replace(" ", "") == "列出审计日志，最新在前（JSON行）：账号、维护静默、外出、登记信息"
    assert all(display_width(line) <= 20 for line in lines), lines
    assert not any(line[0] in "，、：）" for line in lines), lines
    assert wrap_columns("the folder  to write", 10) == ["the folder", "to write"]


@pytest.mark.parametrize(
    ("lang", "shown"),
    [
        (
            "zh_CN",
            "cwatch：登记信息被拒绝：1 个问题\n"
            "  households.csv:2: away_until: 外出截止时间 9999-12-31T00:00:00+08:00 超出导入时起 30 天",
        ),
        (
            "en",
            "cwatch: registry refused: 1 problem\n"
            "  households.csv:2: away_until: away until 9999-12-31T00:00:00+08:00 is more than 30 days",
        ),
    ],
)
def test_a_household_held_away_for_good_is_refused_in_the_cli_language(
    lang: str,
    shown: str,
    tmp_path: Path,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`away_until` beyond `care.away_max_days` (30) after the import is refused, with file, line and column."""
    assert main(["registry", "sample", str(tmp_path / "s")]) == 0
    edit_first_row(tmp_path / "s" / "households.csv", away_until="9999-12-31T00:00:00+08:00", away_reason="探亲")
    capsys.readouterr()
    monkeypatch.setenv("CWATCH_LANG", lang)
    assert main(["registry", "import", str(tmp_path / "s")]) == 2
    assert capsys.readouterr().err.startswith(shown)
