"""SLA timers per severity: how long a ticket may wait for acknowledgement and for resolution before it is
escalated one level up the grid. The deadlines are written into the ticket row when the ticket is created
(and moved on acknowledge/escalate), so a restarted service escalates from the stored deadlines: nothing
lives only in memory."""

from __future__ import annotations

from dataclasses import dataclass, field

from rules.alert import Severity


@dataclass(frozen=True, slots=True)
class Sla:
    ack_s: float | None  # None: never escalates for lack of acknowledgement
    resolve_s: float | None


def _default_slas() -> dict[Severity, Sla]:
    # Critical (smoke, gas, duress): 5 min to accept and 1 h to resolve, like the command-centre practice of
    # calling the resident at once; informational tickets never escalate.
    return {
        Severity.CRITICAL: Sla(5 * 60, 60 * 60),
        Severity.MAJOR: Sla(15 * 60, 4 * 3600),
        Severity.MINOR: Sla(60 * 60, 24 * 3600),
        Severity.WARNING: Sla(4 * 3600, 72 * 3600),
        Severity.INFO: Sla(None, None),
    }


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Timeouts per severity, with optional overrides per rule (e.g. a lone elderly resident's silent water
    meter is `major` but should be acknowledged within 10 minutes, like the critical alarms)."""

    by_severity: dict[Severity, Sla] = field(default_factory=_default_slas)
    by_rule: dict[str, Sla] = field(default_factory=dict)
    max_level: int = 4  # assignee (0) → micro-grid leader → grid → community duty → street duty

    def sla(self, severity: Severity, rule_id: str | None = None) -> Sla:
        if rule_id is not None and rule_id in self.by_rule:
            return self.by_rule[rule_id]
        return self.by_severity.get(severity, Sla(None, None))

    def ack_due(self, severity: Severity, now: float, rule_id: str | None = None) -> float | None:
        s = self.sla(severity, rule_id).ack_s
        return None if s is None else now + s

    def resolve_due(self, severity: Severity, now: float, rule_id: str | None = None) -> float | None:
        s = self.sla(severity, rule_id).resolve_s
        return None if s is None else now + s
