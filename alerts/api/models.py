"""Request and response bodies of the `/api/v1` routes of `alerts`: the OpenAPI document is built from these,
and docs/api.md from it. Times are epoch seconds (the service clock); ticket ids are integers."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from alerts.lifecycle import Action, Status
from alerts.model import MemberState
from alerts.silences import MAX_RECURRING_S
from devices.model import Role
from rules.alert import Severity

#: Ids are 32-bit in the store: a larger one names nothing (and must never reach a query).
MAX_ID = 2**31 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class StatusFilter(StrEnum):
    ACTIVE = "active"
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


# --- requests ---------------------------------------------------------------------------------------------


class LoginBody(BaseModel):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class ActionBody(BaseModel):
    note: Annotated[str, Field(max_length=2000)] | None = Field(
        default=None, description="required (non-blank) for resolve, reopen and comment"
    )
    assignee_id: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="assign only: a person working in or above the ticket's micro-grid"
    )
    rating: Annotated[int, Field(ge=1, le=5)] | None = Field(
        default=None, description="evaluate only: the resident's rating"
    )


class BulkBody(BaseModel):
    action: Action = Field(description="any action but assign and evaluate")
    ids: Annotated[list[Id], Field(min_length=1, max_length=500)]
    note: Annotated[str, Field(max_length=2000)] | None = None


class FeedbackBody(BaseModel):
    token: Annotated[str, Field(min_length=20, max_length=100)]
    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, Field(max_length=500)] | None = None


class WeeklyIn(BaseModel):
    """Recurring windows in the street's local time (`tz` of GET /silences/scopes, the `timezone` setting): every
    `days` (ISO weekdays, 1 Monday ... 7 Sunday) from `from` to `to` (HH:MM; `to` before `from` crosses
    midnight)."""

    days: Annotated[list[Annotated[int, Field(ge=1, le=7)]], Field(min_length=1, max_length=7)]
    from_: Annotated[str, Field(alias="from", min_length=5, max_length=5, pattern=r"^\d\d:\d\d$")]
    to: Annotated[str, Field(min_length=5, max_length=5, pattern=r"^\d\d:\d\d$")]

    model_config = {"populate_by_name": True}


class SilenceBody(BaseModel):
    scope_id: Annotated[str, Field(min_length=1, max_length=64)] = Field(description="a grid node within your scope")
    comment: Annotated[str, Field(min_length=1, max_length=2000)] = Field(description="why: shown to everyone")
    rule_id: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="only this rule; none: every rule but critical ones"
    )
    device_id: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="only this device"
    )
    starts_at: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        default=None,
        description="epoch seconds (an instant, no zone); default: now; at most 1 day before now. The board "
        "reads the time typed in the street's time zone (`tz` of GET /silences/scopes)",
    )
    ends_at: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        default=None,
        description="epoch seconds, like starts_at; give this or duration_s; after now, at most 7 days ahead",
    )
    duration_s: Annotated[float, Field(gt=0, le=MAX_RECURRING_S, allow_inf_nan=False)] | None = Field(
        default=None, description="at most 7 days; a weekly silence up to 366 days"
    )
    weekly: WeeklyIn | None = Field(
        default=None, description="silence only inside these weekly windows between the start and the end"
    )


class SilencePreviewBody(BaseModel):
    scope_id: Annotated[str, Field(min_length=1, max_length=64)] = Field(description="a grid node within your scope")
    rule_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    device_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    starts_at: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    ends_at: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    duration_s: Annotated[float, Field(gt=0, le=MAX_RECURRING_S, allow_inf_nan=False)] | None = None
    weekly: WeeklyIn | None = None


# --- responses --------------------------------------------------------------------------------------------


class AccountOut(BaseModel):
    id: int
    username: str
    role: Role
    scope_id: str = Field(description="the grid node the account answers for")
    display_name: str
    person_id: str | None = Field(description="the roster person this account is; tickets assigned to them are 'mine'")


class MeOut(AccountOut):
    may: list[Action] = Field(description="every action the role may ever take (the board hides the others)")
    scope_name: str | None = Field(default=None, description="the name of the scope in the registry")


class LoginOut(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>`; also set as the session cookie")
    expires_in: int = Field(description="seconds")
    account: AccountOut


class PersonOut(BaseModel):
    id: str
    name: str
    role: Role
    phone: str


class ContactOut(BaseModel):
    name: str
    phone: str
    relation: str


class HouseholdOut(BaseModel):
    """What a worker needs before a home visit."""

    id: str
    unit: str
    floor: int
    building_name: str | None
    watched: bool = Field(description="a lone elderly resident lives here and is watched")
    contacts: list[ContactOut] = Field(description="emergency contacts; empty unless the household consented")


class TicketOut(BaseModel):
    """One ticket with display names from the registry and what the caller may do to it now."""

    id: int
    dedup_key: str
    rule_id: str
    severity: Severity
    status: Status
    title: str
    titles: dict[str, str] = Field(
        default_factory=dict,
        description="the rule's title per language (`zh-CN`, `en`) when its rule file gives one per language; empty: "
        "`title` is the title in every language",
    )
    details: dict[str, Any] = Field(description="what the rule saw (rule-specific)")
    microgrid_id: str = Field(description="the micro-grid that owns the ticket")
    device_id: str | None
    household_id: str | None
    building_id: str | None
    community_id: str | None
    assignee_id: str | None
    escalation_level: int
    count: int = Field(description="how often the condition fired while the ticket was active")
    first_seen: float = Field(description="event time of the first alert")
    last_seen: float
    ack_due_at: float | None
    resolve_due_at: float | None
    cleared: bool = Field(description="the rule's clear condition held (the alarm stopped)")
    cleared_at: float | None
    created_at: float
    updated_at: float
    acknowledged_at: float | None
    resolved_at: float | None
    resolved_by: str | None
    rating: int | None = Field(description="the resident's evaluation, 1-5")
    rated_at: float | None
    overdue: bool = Field(description="missed its acknowledge (while open) or resolve deadline, not met since")
    overdue_since: float | None = Field(
        description="the first missed deadline nobody has met since; escalation moves the deadlines, not this"
    )
    overdue_reason: Literal["ack", "resolve"] | None = Field(description="which deadline was missed")
    verifying: bool = Field(
        description="holds only alarms in their verification wait: shown at once, no deadlines, nobody notified"
    )
    verify_until: float | None = Field(description="event time the earliest running verification wait ends")
    microgrid_name: str | None
    building_name: str | None
    household_unit: str | None
    lone_elderly: bool = Field(description="the household is a lone elderly resident's, under care monitoring")
    device_label: str | None
    actions: list[Action] = Field(description="what the caller may do to this ticket now")
    assignee_name: str | None


class MemberOut(BaseModel):
    """One condition the ticket holds or held: an alert's dedup key (several when rules share a group)."""

    dedup_key: str
    rule_id: str
    severity: Severity
    state: MemberState
    title: str
    titles: dict[str, str] = Field(
        default_factory=dict,
        description="the rule's title per language (`zh-CN`, `en`) when its rule file gives one per language; empty: "
        "`title` is the title in every language",
    )
    count: int
    first_seen: float = Field(description="event time of its first alert")
    last_seen: float
    verify_until: float | None = Field(description="while verifying: event time its wait ends")
    joined_at: float = Field(description="service time it joined the ticket")


class EventOut(BaseModel):
    """One line of a ticket's audit trail. `actor` is a username, `system` or `resident`."""

    id: int
    ticket_id: int
    at: float
    actor: str
    action: str
    from_status: Status | None
    to_status: Status | None
    note: str | None
    data: dict[str, Any]
    actor_name: str | None = Field(default=None, description="the display name of the actor's account, if any")


class TicketDetailOut(TicketOut):
    timeline: list[EventOut] = Field(description="oldest first")
    members: list[MemberOut] = Field(description="the conditions it holds or held, in the order they joined")
    household: HouseholdOut | None = Field(description="household tickets only")
    candidates: list[PersonOut] = Field(description="people it may be assigned to (for roles that may assign)")


class TicketPageOut(BaseModel):
    items: list[TicketOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class ItemError(BaseModel):
    code: str
    message: str


class BulkResult(BaseModel):
    id: int
    ok: bool
    status: Status | None = Field(default=None, description="the new status, when ok")
    error: ItemError | None = Field(default=None, description="why not, when not ok")


class BulkOut(BaseModel):
    results: list[BulkResult] = Field(description="one per distinct id, in the order given")
    ok: int = Field(description="how many succeeded")


class FeedbackLinkOut(BaseModel):
    token: str
    path: str = Field(description="the page to send the resident to")
    expires_at: float


class FeedbackViewOut(BaseModel):
    """All a link's holder sees of the ticket."""

    title: str
    titles: dict[str, str] = Field(default_factory=dict, description="the rule's title per language, if it has one")
    status: Status
    resolved_at: float | None
    resolution: str | None


class OkOut(BaseModel):
    ok: bool


class WeeklyOut(BaseModel):
    days: list[int] = Field(description="ISO weekdays, 1 Monday ... 7 Sunday")
    from_: str = Field(alias="from", description="HH:MM, the street's local time")
    to: str

    model_config = {"populate_by_name": True}


class WindowOut(BaseModel):
    starts_at: float
    ends_at: float


class SilenceOut(BaseModel):
    id: int
    scope_id: str
    rule_id: str | None
    device_id: str | None
    starts_at: float
    ends_at: float
    comment: str
    created_by: str
    created_at: float
    cancelled_at: float | None
    cancelled_by: str | None
    suppressed: int = Field(description="raises it kept from opening tickets")
    active: bool = Field(description="silencing now (for a weekly one: inside a window now)")
    weekly: WeeklyOut | None = Field(default=None, description="its weekly windows; null: one window")
    next_windows: list[WindowOut] = Field(default_factory=list, description="its next windows (up to 5)")
    scope_name: str | None = Field(default=None, description="the name of the scope in the registry")
    device_name: str | None = Field(default=None, description="the device's label in the registry (with device_id)")
    created_by_name: str | None = Field(default=None, description="the display name of the creator's account")
    rule_name: str | None = Field(
        default=None,
        description="the rule's title in the caller's language (the rule set's; for a rule no longer in it, its "
        "newest ticket's in the caller's scope); null: none",
    )


class SilenceListItem(SilenceOut):
    may_cancel: bool = Field(description="whether the caller may end it")


class SilenceListOut(BaseModel):
    items: list[SilenceListItem]
    tz: str = Field(description="the street's time zone (IANA name): the one of the weekly windows' HH:MM")


class SummaryOut(BaseModel):
    active: int
    overdue: int
    mtta_s: float | None = Field(description="mean time to acknowledge, tickets created in the last 7 days")
    mttr_s: float | None = Field(description="mean time to resolve by a person, same tickets")
    rating: float | None = Field(description="mean resident rating, same tickets")
    rated: int
    by_status: dict[Status, int]
    by_severity: dict[Severity, int] = Field(description="active tickets only")
    at: float = Field(description="the service clock (simulated time in a demo)")
    tz: str = Field(description="the street's time zone (IANA name): the wall's clock shows its time")


class DeviceRefOut(BaseModel):
    id: str
    device_class: str
    label: str


class DeviceChoiceOut(BaseModel):
    id: str = Field(description="what a silence's device_id takes")
    device_class: str
    name: str = Field(description="where it is, as people say it: building, door, label")


class DeviceChoicesOut(BaseModel):
    items: list[DeviceChoiceOut] = Field(description="in registry order")
    more: bool = Field(description="more devices matched than are listed: type more to narrow them")


class SilencePreviewOut(BaseModel):
    devices: int = Field(description="devices in the scope it covers (narrowed to the device when one is given)")
    by_class: dict[str, int] = Field(description="those devices per class")
    sample: list[DeviceRefOut] = Field(description="the first few of them")
    rule_id: str | None = Field(description="the rule it mutes; null: every rule")
    critical_excluded: bool = Field(description="critical alarms stay loud (a silence without a rule never hides them)")
    active_tickets: int = Field(description="active tickets inside it now: they keep counting repeats")
    next_windows: list[WindowOut] = Field(description="when it would silence: its first windows (up to 5)")


class ScopeNodeOut(BaseModel):
    id: str
    level: str = Field(description="street, community, grid, microgrid or building")
    name: str
    parent_id: str | None
    may_silence: bool


class RuleChoiceOut(BaseModel):
    id: str = Field(description="the rule's id, what a silence's rule_id takes")
    name: str = Field(description="its title in the caller's language (its id when it has none)")


class ScopeTreeOut(BaseModel):
    items: list[ScopeNodeOut] = Field(description="parents before children")
    rules: list[RuleChoiceOut] = Field(
        default_factory=list, description="the rules in force, by name: the ones a silence may name"
    )
    tz: str = Field(
        description="the street's time zone (IANA name, e.g. Asia/Shanghai): weekly windows are in it, and the "
        "board shows and reads a silence's start and end in it, whatever the browser's zone"
    )
