"""A notice's text: in the recipient's own language alone (a person's, a family member's, or the deployment's),
every template with a lead of its own in both languages, and the action links labelled as the page they open."""

from __future__ import annotations

import dataclasses
from zoneinfo import ZoneInfo

from alerts.lifecycle import Status
from alerts.messages import Message, both, coded, recipient_lang, render
from alerts.model import Ticket
from alerts.notices import ACTIONS, TEMPLATES
from core import i18n
from core.i18n import EN, ZH
from devices.model import ChannelKind, ContactPoint
from devices.registry import Registry
from rules.alert import Severity
from tests.devices.factory import T0, tiny

TZ = ZoneInfo("Asia/Shanghai")


def ticket() -> Ticket:
    at = T0.timestamp()
    return Ticket(
        7, "smoke_alarm:d1", "smoke_alarm", Severity.CRITICAL, Status.OPEN, "烟感报警 Smoke alarm", {}, "m1", "d1",
        "h1", "b1", "c1", "p-w1", 0, 1, at, at, None, None, False, None, at, at,
    )  # fmt: skip


def message(lang: str, links: tuple[tuple[str, str], ...] = (("accept", "http://t/act.html#7.x"),)) -> Message:
    return render(
        "new_ticket",
        ticket(),
        where="1号楼 1-101",
        recipient_name="周杰",
        links=links,
        tz=TZ,
        link_ttl_s=12 * 3600,
        lang=lang,
    )


def test_a_chinese_reader_gets_chinese_alone() -> None:
    m = message(ZH)
    assert m.title == "[紧急] 烟感报警 · #7"
    assert m.body.splitlines() == [
        "周杰，您好：新工单，请接单。",
        "",
        "工单 #7：烟感报警",
        "地点：1号楼 1-101",
        f"时间：{T0.astimezone(TZ):%Y-%m-%d %H:%M}",
        "状态：待接单",
        "",
        "接单: http://t/act.html#7.x",
        "",
        "链接仅可使用一次，12 小时内有效。",
    ]


def test_an_english_reader_gets_english_alone() -> None:
    m = message(EN)
    assert m.title == f"[{i18n.render('names.severity.critical', EN)}] Smoke alarm · #7"
    assert m.body.splitlines()[:3] == ["Hello 周杰: New ticket for you.", "", "Ticket #7: Smoke alarm"]
    assert "Accept: http://t/act.html#7.x" in m.body
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in m.body.replace("周杰", "").replace("1号楼", ""))


def test_a_rules_own_title_per_language_is_used() -> None:
    titled = dataclasses.replace(ticket(), titles={ZH: "烟感报警（厨房）", EN: "Kitchen smoke alarm"})
    for lang, title in ((ZH, "烟感报警（厨房）"), (EN, "Kitchen smoke alarm")):
        m = render("new_ticket", titled, where="", recipient_name="", links=(), tz=TZ, link_ttl_s=3600, lang=lang)
        assert f"] {title} · #7" in m.title
        assert f"#7{'：' if lang == ZH else ': '}{title}" in m.body


def test_one_language_keeps_a_text_message_short() -> None:
    """An SMS without links in Chinese fits in two 70-character segments (in both languages it took three)."""
    m = message(ZH, links=())
    assert len(m.title) + len(m.body) <= 140


def test_every_template_and_action_has_its_text_in_both_languages() -> None:
    catalog = i18n.catalog()
    for template in TEMPLATES:
        assert set(catalog[f"notices.lead.{template}"]) == {ZH, EN}
    for action in ACTIONS:
        assert set(catalog[f"board.onetap.action.{action}"]) == {ZH, EN}
    for status in Status:
        assert f"board.onetap.state.{status.value}" in catalog


def test_each_recipient_reads_their_own_language_else_the_deployments() -> None:
    reg: Registry = tiny()
    w1 = dataclasses.replace(reg.people["p-w1"], lang=EN)
    reg = reg.with_changes(
        people=[w1],
        contacts=[
            ContactPoint(ChannelKind.SMS, "13800000009", household_id="h1", name="王伟", consent=True),
            ContactPoint(ChannelKind.EMAIL, "son@example.org", household_id="h1", name="王伟", consent=True, lang=EN),
            ContactPoint(ChannelKind.SMS, "13800000008", household_id="h1", name="王芳", consent=True),
        ],
    )
    assert recipient_lang(reg, "p-w1", family=False, default=ZH) == EN
    assert recipient_lang(reg, "p-l1", family=False, default=ZH) == ZH
    assert recipient_lang(reg, "p-l1", family=False, default=EN) == EN
    assert recipient_lang(reg, "h1#王伟", family=True, default=ZH) == EN
    assert recipient_lang(reg, "h1#王芳", family=True, default=ZH) == ZH


def test_the_timeline_says_each_attempt_in_both_languages_from_the_catalog() -> None:
    from alerts.delivery import TimelineOutcomes
    from alerts.notify import Outcome

    notes = TimelineOutcomes(TZ)
    who = {"name": "周杰", "channel": "sms", "to": "13***"}
    at = T0.timestamp()
    assert notes.note(Outcome("sent", who)) == "已通知 周杰（sms 13***） (sent to 周杰 by sms 13***)"
    failed = notes.note(Outcome("failed", who, "gateway 503", at))
    hhmm = f"{T0.astimezone(TZ):%H:%M}"
    assert (
        failed == f"通知 周杰 失败（sms 13***），{hhmm} 重试 (failed to reach 周杰 by sms 13***; retrying at {hhmm})"
        ": gateway 503"
    )
    assert notes.note(Outcome("gave_up", who, "no number")) == "无法通知 周杰 (gave up reaching 周杰): no number"


def test_a_coded_note_is_both_languages_and_its_key_with_values_and_what_follows() -> None:
    accept = i18n.tr("board.onetap.action.accept")
    note, data = coded("notices.by_link", ": 已到场", name="李娜", channel="sms", action=accept)
    assert note == both("notices.by_link", name="李娜", channel="sms", action=accept) + ": 已到场"
    assert data == {
        "note_key": "notices.by_link",
        "note_values": {"name": "李娜", "channel": "sms", "action": {"key": "board.onetap.action.accept"}},
        "note_rest": ": 已到场",
    }
    assert coded("notices.system.withdrawn")[1] == {"note_key": "notices.system.withdrawn"}
