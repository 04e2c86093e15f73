"""`Alert`: what a rule says about the world. The only thing the rule engine hands to `alerts/`."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"
    INFO = "info"


class AlertAction(StrEnum):
    RAISE = "raise"  # open (or repeat on) the alert identified by dedup_key
    CLEAR = "clear"  # the clear condition held: resolve the open alert with this dedup_key
    PENDING = "pending"  # a match whose verification wait (`pending`) runs until `until`: a raise may follow
    CANCEL = "cancel"  # the verification wait of dedup_key ended without a raise (the resident silenced it)


class Alert(msgspec.Struct, frozen=True, gc=False):
    """One raise or clear. `dedup_key` identifies the condition (rule + device or household): repeats of an
    open key update the same ticket; after it is resolved, the same key opens a new one.
    `ts` is event time (device time of the message or watermark that triggered it).

    A msgspec struct, not a frozen dataclass: a sweep in which a whole street falls due builds 200,000 of
    them, and a struct is built in 0.4 µs instead of 2 (`msgspec.structs.replace`/`asdict` replace the
    `dataclasses` functions). `gc=False`: an alert holds no reference cycles."""

    action: AlertAction
    rule_id: str
    dedup_key: str
    severity: Severity
    ts: float
    microgrid_id: str
    title: str
    device_id: str | None = None
    household_id: str | None = None
    building_id: str | None = None
    community_id: str | None = None
    details: dict[str, Any] = msgspec.field(default_factory=dict)
    lasting: bool = False
    """A raise of a condition that lasts until its clear comes (a device offline, a leak, an absence), not a
    moment (a thrown object): a maintenance window holds such a raise and opens its ticket when the window ends
    unless the clear came meanwhile."""
    until: float | None = None
    """A `pending` alert: when its verification wait ends (event time); the raise that confirms it is dated
    then."""
    group: str | None = None
    """`group:target` when the rule names a `group` (target: the device, or the household of household rules):
    the alerts of every rule of the group about one target belong to one ticket (one incident per situation).
    `dedup_key` still identifies this rule's condition, and its clear ends only this rule's part."""
    reopen_within: float = 0.0
    """A raise: seconds after its condition's ticket was resolved within which it reopens that ticket instead of
    opening a new one (the rule's `reopen_within`: a meter that keeps dropping off is one ticket with its
    history, not one a week); 0: only the alerts service's own flap window applies."""
    titles: dict[str, str] = msgspec.field(default_factory=dict)
    """The rule's title per language (`zh-CN`, `en`) when its file gives one per language; empty: `title` is
    the title in every language. `title` then holds both, Chinese first, for what shows a single string."""


AWAY_ENDED = "away_ended"
"""`details["signal"]` of an alert that is no condition but news for the alerts side: water use ended a
household's away (an absence rule with `away_ends_on_use`). It goes out as a `clear` of a key that is never
raised (`<rule>:<household>:away_ended`, dated at the use, `device_id` the meter whose reading showed it), with
`used_at`, `read_at` (that reading's time), `was_until` (the away's end it cut short: the "away confirmed"
answer's, else the care profile's) and, when it cut the care profile's (the registry's `away_until`) short,
`registry_until`; the alerts service ends its away record on it and records the registry's away as ended
(`alerts.away`), and files no ticket."""
