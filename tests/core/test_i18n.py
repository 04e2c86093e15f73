"""The message catalog: every message in both languages with the same placeholders, every key the code and the
board use is in it, and the language a request or a shell asks for is the one chosen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alerts.lifecycle import Action, Status
from core import i18n
from core.i18n import EN, ZH, CatalogError, env_lang, one_language, request_lang, tr
from devices.model import Level, Role
from rules.alert import Severity

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "devices", "ingest", "rules", "alerts", "simulator", "cwatch")


def test_every_message_has_both_languages_with_the_same_placeholders() -> None:
    catalog = i18n.catalog()
    assert len(catalog) > 100
    for key, texts in catalog.items():
        assert set(texts) == {ZH, EN}, key
        assert all(texts.values()), key
        zh, en = (set(i18n.PLACEHOLDER.findall(texts[lang])) for lang in (ZH, EN))
        assert zh == en, f"{key}: placeholders differ: zh-CN {sorted(zh)}, en {sorted(en)}"


def test_a_message_missing_a_language_names_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "board.toml").write_text('[save]\nen = "Save"\n', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"board.toml: board.save: needs exactly zh-CN and en"):
        i18n.load(tmp_path)


def _python_keys() -> set[str]:
    keys: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            keys.update(re.findall(r"""\b(?:tr|say|text|render|both)\(\s*["']([a-z_]+\.[\w.]+)["']""", text))
    return keys


def test_every_key_the_python_code_uses_is_in_the_catalog() -> None:
    used = _python_keys()
    assert len(used) > 50
    missing = sorted(used - set(i18n.catalog()))
    assert not missing, f"keys used but not in core/messages: {missing}"


def test_every_key_the_board_uses_is_in_the_catalog() -> None:
    used: set[str] = set()
    for path in (ROOT / "alerts" / "board").glob("*.*"):
        if path.suffix in (".js", ".html"):
            text = path.read_text(encoding="utf-8")
            used.update(re.findall(r"""\b(?:tr|labelled|either)\(\s*["']([\w.]+)["']""", text))
            used.update(re.findall(r"""data-i18n(?:-\w+)?="([\w.]+)\"""", text))
    assert used
    board = set(i18n.area("board", EN)) | {"names." + k for k in i18n.area("names", EN)}
    # `tr("act." + action)`: a prefix some keys have
    missing = sorted(
        k for k in used if (not any(b.startswith(k) for b in board) if k.endswith(".") else k not in board)
    )
    assert not missing, f"board keys not in core/messages/board.toml: {missing}"


def test_every_value_of_the_named_enumerations_has_a_name() -> None:
    named = {"role": Role, "level": Level, "status": Status, "action": Action, "severity": Severity}
    for table, enum in named.items():
        for value in enum:
            assert f"names.{table}.{value.value}" in i18n.catalog(), (table, value)


def test_severities_are_capitalised_in_english_like_the_other_labels_beside_them() -> None:
    """The board shows them as badges and tiles beside "Active" and "Overdue": one way of writing them."""
    names = {s.value: i18n.render(f"names.severity.{s.value}", EN) for s in Severity}
    assert all(n[:1].isupper() for n in names.values()), names
    assert i18n.render("board.tile.active", EN)[:1].isupper()


def test_a_text_renders_in_either_language_and_is_english_as_a_string() -> None:
    msg = tr("errors.cannot_from_status", action=tr("names.action.ack"), status=tr("names.status.resolved"))
    assert msg == "cannot acknowledge a ticket that is resolved"
    assert msg.in_lang(ZH) == "工单已解决，不能确认"
    assert i18n.localized(msg, ZH) == msg.in_lang(ZH)
    assert i18n.localized("plain", ZH) == "plain"
    with pytest.raises(KeyError):
        tr("errors.no_such_message")


@pytest.mark.parametrize(
    ("cookie", "accept", "lang"),
    [
        (None, "zh-CN,zh;q=0.9,en;q=0.8", ZH),
        (None, "en-US,en;q=0.9,zh-CN;q=0.8", EN),
        (None, "", EN),
        (None, "fr-FR", EN),
        ("en", "zh-CN", EN),
        ("zh-CN", "en-US", ZH),
        ("klingon", "zh-CN", ZH),
    ],
)
def test_the_cookie_comes_first_then_accept_language(cookie: str | None, accept: str, lang: str) -> None:
    assert request_lang(cookie, accept) == lang


@pytest.mark.parametrize(
    ("env", "lang"),
    [
        ({"CWATCH_LANG": "zh_CN", "LANG": "en_US.UTF-8"}, ZH),
        ({"LANG": "zh_CN.UTF-8"}, ZH),
        ({"LC_ALL": "en_GB.UTF-8", "LANG": "zh_CN.UTF-8"}, EN),
        ({"LANG": "C.UTF-8"}, EN),
        ({}, EN),
    ],
)
def test_the_cli_language_comes_from_the_environment(env: dict[str, str], lang: str) -> None:
    assert env_lang(env) == lang


@pytest.mark.parametrize(
    ("title", "zh", "en"),
    [
        ("门被强行打开 Door forced open", "门被强行打开", "Door forced open"),
        (
            "烟感报警10分钟未消除 Smoke alarm not cleared for 10 min",
            "烟感报警10分钟未消除",
            "Smoke alarm not cleared for 10 min",
        ),
        (
            "持续用水超过2小时 Water running for more than 2 h (tap left open?)",
            "持续用水超过2小时",
            "Water running for more than 2 h (tap left open?)",
        ),
        ("设备离线 AC-0000008", "设备离线 AC-0000008", "设备离线 AC-0000008"),  # an id is not English
        ("漏水：桂花苑1号楼 1-101", "漏水：桂花苑1号楼 1-101", "漏水：桂花苑1号楼 1-101"),
        ("Smoke alarm", "Smoke alarm", "Smoke alarm"),
    ],
)
def test_a_title_in_both_languages_is_shown_in_one(title: str, zh: str, en: str) -> None:
    assert (one_language(title, ZH), one_language(title, EN)) == (zh, en)
