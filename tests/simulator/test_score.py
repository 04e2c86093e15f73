"""The scorer: matching by rule, target and window; episodes; tolerated, late and false alerts."""

from __future__ import annotations

import json
from pathlib import Path

from rules.alert import Alert, AlertAction, Severity
from simulator.groundtruth import Truth, read_truth, write_truth
from simulator.score import read_alerts, score, to_markdown

T0 = 1_772_400_000.0


def _alert(
    rule: str, ts: float, device: str | None = None, household: str | None = None, action: str = "raise"
) -> Alert:
    target = device or household
    return Alert(
        action=AlertAction(action),
        rule_id=rule,
        dedup_key=f"{rule}:{target}",
        severity=Severity.MAJOR,
        ts=ts,
        microgrid_id="mg",
        title="t",
        device_id=device,
        household_id=household,
    )


TRUTH = [
    Truth("door_forced", "door_forced", "AC-1", "device", T0, T0 + 60),
    Truth("elderly_fall", "elderly_no_water", "h-1", "household", T0, T0 + 12 * 3600 + 60),
    Truth("thrown_object", "thrown_object", "CAM-1", "device", T0 + 100, T0 + 160),
    Truth("outage", "device_offline", "SD-9", "device", T0, T0 + 7200, required=False),
]


def test_recall_delay_and_false_alerts_per_rule() -> None:
    alerts = [
        _alert("door_forced", T0 + 5, device="AC-1"),
        _alert("door_forced", T0 + 20, device="AC-1"),  # repeat of the open alert: same episode
        _alert("elderly_no_water", T0 + 12 * 3600, household="h-1", device="WM-1"),
        _alert("thrown_object", T0 + 400, device="CAM-1"),  # too late: false (late) and missed
        _alert("device_offline", T0 + 3000, device="SD-9"),  # background outage: tolerated
        _alert("smoke_alarm", T0 + 50, device="SD-1"),  # nothing happened: false
    ]
    r = score(TRUTH, alerts, watched_household_months=10.0)
    assert (r.expected, r.detected) == (3, 2)
    assert r.rules["door_forced"].recall == 1.0
    assert r.rules["door_forced"].delays == [5.0]
    assert r.rules["elderly_no_water"].delays == [12 * 3600]
    assert r.rules["thrown_object"].detected == 0
    assert r.rules["thrown_object"].late == 1
    assert r.rules["device_offline"].tolerated == 1
    assert r.rules["device_offline"].false_alerts == 0
    assert r.rules["smoke_alarm"].false_alerts == 1
    assert r.false_alerts == 2
    assert [t.rule_id for t in r.missed] == ["thrown_object"]
    assert r.false_no_water_per_household_month == 0.0


def test_a_cleared_alert_raised_again_is_a_new_episode() -> None:
    alerts = [
        _alert("door_forced", T0 + 5, device="AC-1"),
        _alert("door_forced", T0 + 30, device="AC-1", action="clear"),
        _alert("door_forced", T0 + 5000, device="AC-1"),
    ]
    r = score(TRUTH, alerts)
    assert r.episodes == 2
    assert r.rules["door_forced"].false_alerts == 1


def test_false_no_water_alerts_per_household_month() -> None:
    alerts = [
        a
        for d in range(3)
        for a in (
            _alert("elderly_no_water", T0 + 86_400 * d, household="h-2"),
            _alert("elderly_no_water", T0 + 86_400 * d + 3600, household="h-2", action="clear"),
        )
    ]
    r = score(TRUTH, alerts, watched_household_months=6.0)
    assert r.false_no_water_per_household_month == 0.5


def test_files_round_trip_and_markdown(tmp_path: Path) -> None:
    truth_file = tmp_path / "truth.jsonl"
    write_truth(TRUTH, truth_file)
    assert sorted(read_truth(truth_file), key=lambda t: t.rule_id) == sorted(TRUTH, key=lambda t: t.rule_id)
    alerts_file = tmp_path / "alerts.jsonl"
    alerts_file.write_text(
        json.dumps({"action": "raise", "rule_id": "door_forced", "dedup_key": "k", "ts": T0 + 1, "device_id": "AC-1"})
        + "\n"
    )
    r = score(read_truth(truth_file), read_alerts(alerts_file))
    md = to_markdown(r, title="T")
    assert md.startswith("# T")
    assert "| `door_forced` | 1 | 1 | 100% |" in md
    assert "## Missed" in md
    assert "thrown_object" in md


def test_a_verification_wait_is_judged_by_its_raise_and_a_withdrawn_one_raised_nothing() -> None:
    truth = [Truth("fire", "smoke_alarm", "SD-1", "device", T0, T0 + 120)]
    wait = _alert("smoke_alarm", T0, device="SD-1", action="pending")
    confirmed = score(truth, [wait, _alert("smoke_alarm", T0 + 40, device="SD-1")])
    assert (confirmed.detected, confirmed.false_alerts, confirmed.episodes) == (1, 0, 1)
    assert confirmed.rules["smoke_alarm"].delays == [40]
    cooking = score([], [wait, _alert("smoke_alarm", T0 + 20, device="SD-1", action="cancel")])
    assert (cooking.false_alerts, cooking.episodes) == (0, 0)
