"""Every action a ticket's timeline can show has a label in both languages, so the board reads "已通知" /
"Notified" rather than the stored `notified`."""

from __future__ import annotations

from alerts.delivery import OUTCOME_ACTIONS
from alerts.lifecycle import Action, SystemAction
from core import i18n


def test_every_timeline_action_has_a_label_in_both_languages() -> None:
    actions = {a.value for a in Action} | {a.value for a in SystemAction} | set(OUTCOME_ACTIONS.values())
    assert {"ack", "raise", "notified", "notify_gave_up"} <= actions
    for lang in i18n.LANGS:
        labels = i18n.area("board", lang)
        missing = sorted(a for a in actions if f"act.{a}" not in labels)
        assert not missing, f"{lang}: no label in core/messages/board.toml for {missing}"
