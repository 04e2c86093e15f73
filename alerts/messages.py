"""The text of a notice: a title and a plain-text body in Chinese and English, with its one-tap links. Pure.

Plain text on purpose: every channel (SMS, WeCom, DingTalk, Feishu, ntfy, e-mail) shows it, phones turn the URLs
into links, and nothing in it depends on a client rendering HTML."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.model import Ticket

#: What each template says first (zh-CN, English).
LEADS: dict[str, tuple[str, str]] = {
    "new_ticket": ("新工单，请接单", "New ticket for you"),
    "reminder": ("提醒：工单仍未接单", "Reminder: nobody has accepted this ticket yet"),
    "escalated": ("工单已升级给您", "This ticket was escalated to you"),
    "severity_raised": ("工单严重程度已提高", "This ticket's severity was raised"),
    "all_clear": ("告警已恢复", "All clear"),
    "family_check": ("请确认您的家人是否安好", "Please check on your family member"),
    "someone_coming": ("工作人员正在上门", "Someone is on the way"),
    "handover": ("交接班：以下工单仍未完成", "Handover: this ticket is still open"),
    "resolved": ("工单已解决", "This ticket was resolved"),
    "not_started": ("提醒：工单已接单但尚未开始处理", "Reminder: this ticket was accepted but not started"),
}

#: The label of each one-tap action (zh-CN, English).
ACTION_LABELS: dict[str, tuple[str, str]] = {
    "accept": ("接单", "Accept"),
    "on_my_way": ("我在路上", "On my way"),
    "resolve": ("已处理", "Resolved"),
    "all_well": ("一切安好", "All is well"),
    "send_someone": ("请派人上门", "Please send someone"),
}

SEVERITY_LABELS: dict[str, str] = {
    "critical": "紧急 critical",
    "major": "重要 major",
    "minor": "一般 minor",
    "warning": "提示 warning",
    "info": "信息 info",
}

STATUS_LABELS: dict[str, str] = {
    "open": "待接单 open",
    "acknowledged": "已接单 acknowledged",
    "in_progress": "处理中 in progress",
    "resolved": "已解决 resolved",
    "closed": "已关闭 closed",
}


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str


def render(
    template: str,
    ticket: Ticket,
    *,
    where: str,
    recipient_name: str,
    links: Sequence[tuple[str, str]],
    tz: ZoneInfo,
    link_ttl_s: float,
) -> Message:
    """The message of `template` about `ticket` for `recipient_name`; `links` are (action, URL) pairs."""
    zh, en = LEADS.get(template, ("工单通知", "Ticket notice"))
    severity = SEVERITY_LABELS.get(ticket.severity.value, ticket.severity.value)
    title = f"[{severity}] {ticket.title} · #{ticket.id}"
    when = datetime.fromtimestamp(ticket.first_seen, tz).strftime("%Y-%m-%d %H:%M")
    lines = [
        f"{recipient_name}，您好：{zh}。" if recipient_name else f"{zh}。",
        f"{en}.",
        "",
        f"工单 Ticket #{ticket.id}: {ticket.title}",
        f"地点 Where: {where}" if where else "",
        f"时间 When: {when}",
        f"状态 Status: {STATUS_LABELS.get(ticket.status.value, ticket.status.value)}",
    ]
    if links:
        lines.append("")
        for action, url in links:
            label_zh, label_en = ACTION_LABELS[action]
            lines.append(f"{label_zh} {label_en}: {url}")
        hours = max(1, round(link_ttl_s / 3600))
        lines += ["", f"链接仅可使用一次，{hours} 小时内有效。 Each link works once, for {hours} hours."]
    elif ticket.status.active is False:
        lines += ["", "此工单已结束，无需操作。 This ticket is finished; nothing to do."]
    return Message(title, "\n".join(line for line in lines if line is not None).replace("\n\n\n", "\n\n"))


def place(hierarchy: object, ticket: Ticket) -> str:
    """Where the ticket is, as people say it: building and door number, else the micro-grid."""

    def name(collection: str, item_id: str | None, attr: str) -> str:
        items = getattr(hierarchy, collection, None)
        if item_id is None or not isinstance(items, Mapping):
            return ""
        value = getattr(items.get(item_id), attr, "")
        return value if isinstance(value, str) else ""

    parts = [
        name("buildings", ticket.building_id, "name") or name("microgrids", ticket.microgrid_id, "name"),
        name("households", ticket.household_id, "unit"),
        name("devices", ticket.device_id, "label"),
    ]
    return " ".join(p for p in parts if p)
