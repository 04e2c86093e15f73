"""Scoring what cwatch raised against the ground truth: recall, detection delay and false alerts per rule,
and false no-water alerts per watched household-month (the resident-care figure that decides trust).

Alerts are folded into episodes by `dedup_key` (a raise opens one, repeats update it, a clear ends it), so a
condition that is re-raised every minute counts once. The announcements of a verification wait (`pending`,
`cancel`) are not alerts of a condition: a wait that ends in a raise is judged by that raise, one withdrawn
raised nothing. An episode is judged by its first raise: it detects
every ground-truth record with its rule and target whose window [start, deadline] holds that time; if it
matches no record at all, it is a false alert. Records with `required: false` explain alerts but are not
counted in recall."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.errors import RecordingError
from simulator.groundtruth import Truth


@dataclass(frozen=True, slots=True)
class ScoredAlert:
    """The parts of a `rules.alert.Alert` the scorer needs."""

    action: str
    rule_id: str
    dedup_key: str
    ts: float
    device_id: str | None = None
    household_id: str | None = None

    @classmethod
    def of(cls, alert: Any) -> ScoredAlert:
        """From a `rules.alert.Alert` or its JSON (a dict)."""
        get = alert.get if isinstance(alert, Mapping) else lambda k, d=None: getattr(alert, k, d)
        action = get("action", "raise")
        rule_id = str(get("rule_id"))
        device = get("device_id")
        household = get("household_id")
        key = get("dedup_key") or f"{rule_id}:{device or household}"
        ts = get("ts")
        if ts is None:
            raise ValueError("alert without ts")
        return cls(str(getattr(action, "value", action)), rule_id, str(key), float(ts), device, household)


def _targets(a: ScoredAlert) -> tuple[str | None, ...]:
    """What an alert is about: its device and household, or (an alert about neither: a gateway or building
    outage) the group its dedup key names after the rule id, e.g. `gateway:lora-1`."""
    if a.device_id is None and a.household_id is None:
        return (a.dedup_key.removeprefix(f"{a.rule_id}:"),)
    return (a.device_id, a.household_id)


@dataclass(slots=True)
class RuleScore:
    rule_id: str
    expected: int = 0
    detected: int = 0
    false_alerts: int = 0
    late: int = 0  # false alerts that match a record's target after its deadline
    tolerated: int = 0  # alerts explained by background / follow-on records
    delays: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        return self.detected / self.expected if self.expected else None

    def delay(self, q: float) -> float | None:
        if not self.delays:
            return None
        d = sorted(self.delays)
        return d[min(len(d) - 1, int(q * len(d)))]


@dataclass(slots=True)
class Report:
    rules: dict[str, RuleScore]
    missed: list[Truth]
    false: list[ScoredAlert]
    episodes: int
    watched_household_months: float = 0.0

    @property
    def expected(self) -> int:
        return sum(r.expected for r in self.rules.values())

    @property
    def detected(self) -> int:
        return sum(r.detected for r in self.rules.values())

    @property
    def recall(self) -> float | None:
        return self.detected / self.expected if self.expected else None

    @property
    def false_alerts(self) -> int:
        return sum(r.false_alerts for r in self.rules.values())

    @property
    def false_no_water_per_household_month(self) -> float | None:
        r = self.rules.get("elderly_no_water")
        if not self.watched_household_months:
            return None
        return (r.false_alerts if r else 0) / self.watched_household_months

    def to_json(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "detected": self.detected,
            "recall": self.recall,
            "false_alerts": self.false_alerts,
            "false_no_water_per_household_month": self.false_no_water_per_household_month,
            "rules": {
                k: {
                    "expected": v.expected,
                    "detected": v.detected,
                    "recall": v.recall,
                    "false_alerts": v.false_alerts,
                    "late": v.late,
                    "tolerated": v.tolerated,
                    "delay_median_s": v.delay(0.5),
                    "delay_max_s": v.delay(1.0),
                }
                for k, v in sorted(self.rules.items())
            },
            "missed": [t.to_json() for t in self.missed],
        }


def _episodes(alerts: Iterable[ScoredAlert]) -> list[ScoredAlert]:
    """The first raise of each episode (raise ... clear) per dedup_key, in time order."""
    open_keys: set[str] = set()
    firsts: list[ScoredAlert] = []
    for a in sorted(alerts, key=lambda a: a.ts):
        if a.action == "clear":
            open_keys.discard(a.dedup_key)
        elif a.action == "raise" and a.dedup_key not in open_keys:
            open_keys.add(a.dedup_key)
            firsts.append(a)
    return firsts


def score(truth: Iterable[Truth], alerts: Iterable[Any], *, watched_household_months: float = 0.0) -> Report:
    """Compare alerts (`rules.alert.Alert`, dicts or `ScoredAlert`) with the ground truth."""
    truths = list(truth)
    scored = [a if isinstance(a, ScoredAlert) else ScoredAlert.of(a) for a in alerts]
    rules: dict[str, RuleScore] = {}

    def rs(rule: str) -> RuleScore:
        return rules.setdefault(rule, RuleScore(rule))

    index: dict[tuple[str, str], list[Truth]] = {}
    for t in truths:
        index.setdefault((t.rule_id, t.target), []).append(t)
        if t.required:
            rs(t.rule_id).expected += 1
    first_hit: dict[int, float] = {}
    ids = {id(t): t for t in truths}
    false: list[ScoredAlert] = []
    episodes = _episodes(scored)
    for a in episodes:
        candidates = [t for target in _targets(a) if target for t in index.get((a.rule_id, target), [])]
        hits = [t for t in candidates if t.start <= a.ts <= t.deadline]
        if not hits:
            false.append(a)
            rs(a.rule_id).false_alerts += 1
            if any(a.ts > t.deadline for t in candidates):
                rs(a.rule_id).late += 1
            continue
        if not any(t.required for t in hits):
            rs(a.rule_id).tolerated += 1
        for t in hits:
            if id(t) not in first_hit or a.ts < first_hit[id(t)]:
                first_hit[id(t)] = a.ts
    missed: list[Truth] = []
    for key, t in ids.items():
        if not t.required:
            continue
        if key in first_hit:
            r = rs(t.rule_id)
            r.detected += 1
            r.delays.append(first_hit[key] - t.start)
        else:
            missed.append(t)
    missed.sort(key=lambda t: (t.start, t.target))
    return Report(rules, missed, false, len(episodes), watched_household_months)


def read_alerts(path: str | Path) -> list[ScoredAlert]:
    """Alerts as JSON Lines (one `Alert` as JSON per line) or one JSON array."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise RecordingError(f"{path}: cannot read alerts: {e.strerror}") from None
    try:
        stripped = text.lstrip()
        rows = json.loads(text) if stripped.startswith("[") else [json.loads(x) for x in text.splitlines() if x.strip()]
        return [ScoredAlert.of(r) for r in rows]
    except (ValueError, KeyError, TypeError) as e:
        raise RecordingError(f"{path}: not alerts as JSON: {e}") from None


def _fmt_s(v: float | None) -> str:
    if v is None:
        return "–"
    if v < 120:
        return f"{v:.0f} s"
    if v < 7200:
        return f"{v / 60:.1f} min"
    return f"{v / 3600:.1f} h"


def to_markdown(report: Report, *, title: str = "Scoring report", notes: Iterable[str] = ()) -> str:
    """The report as Markdown for docs/: totals, a table per rule, and the missed incidents."""
    rec = report.recall
    lines = [f"# {title}", ""]
    lines.extend(notes)
    if notes:
        lines.append("")
    fnw = report.false_no_water_per_household_month
    lines += [
        f"- Incidents expected: **{report.expected}**, detected in time: **{report.detected}**"
        + (f" (recall {rec:.0%})" if rec is not None else ""),
        f"- Alert episodes raised: {report.episodes}; false alerts: **{report.false_alerts}**",
    ]
    if fnw is not None:
        lines.append(
            f"- False `elderly_no_water` alerts per watched household-month: **{fnw:.3f}** "
            f"({report.watched_household_months:.1f} household-months)"
        )
    lines += [
        "",
        "| rule | expected | detected | recall | delay median | delay max | false alerts (late) | tolerated |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rid, r in sorted(report.rules.items()):
        recall = f"{r.recall:.0%}" if r.recall is not None else "–"
        lines.append(
            f"| `{rid}` | {r.expected} | {r.detected} | {recall} | {_fmt_s(r.delay(0.5))} | {_fmt_s(r.delay(1.0))} "
            f"| {r.false_alerts} ({r.late}) | {r.tolerated} |"
        )
    if report.missed:
        lines += [
            "",
            "## Missed",
            "",
            "| incident | rule | target | start (epoch) | deadline |",
            "| --- | --- | --- | ---: | ---: |",
        ]
        for t in report.missed:
            lines.append(
                f"| {t.incident} | `{t.rule_id}` | {t.target} | {t.start:.0f} | +{_fmt_s(t.deadline - t.start)} |"
            )
    if report.false:
        by_rule: dict[str, int] = {}
        for a in report.false:
            by_rule[a.rule_id] = by_rule.get(a.rule_id, 0) + 1
        lines += ["", "## False alerts by rule", ""]
        lines += [f"- `{k}`: {v}" for k, v in sorted(by_rule.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines) + "\n"
