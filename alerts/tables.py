"""Tables of `alerts` on their own MetaData. Times are epoch seconds (floats) so SQLite and PostgreSQL agree
and the service's Clock (virtual in simulations) is the only source of time.

The partial unique indexes are the guarantee behind deduplication: whatever the number of processes, a ticket
key (an alert's group, else its dedup key) has at most one active (open / acknowledged / in progress) ticket
(`uq_tickets_active_dedup`), and a condition (an alert's dedup key) belongs to at most one active ticket
(`uq_ticket_members_active`)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import begin_write

metadata = MetaData()

tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedup_key", String(256), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("severity_rank", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("title", Text, nullable=False),
    Column("titles", JSON),  # the rule's title per language (`Alert.titles`); NULL: `title` in every language
    Column("details", JSON, nullable=False),
    Column("device_id", String(64)),
    Column("household_id", String(64)),
    Column("building_id", String(64)),
    Column("community_id", String(64)),
    Column("microgrid_id", String(64), nullable=False),
    Column("assignee_id", String(64)),
    Column("escalation_level", Integer, nullable=False, default=0),
    Column("count", Integer, nullable=False, default=1),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("ack_due_at", Float),
    Column("resolve_due_at", Float),
    Column("cleared", Boolean, nullable=False, default=False),
    Column("cleared_at", Float),
    Column("acknowledged_at", Float),
    Column("resolved_at", Float),
    Column("resolved_by", String(64)),
    Column("rating", Integer),  # the resident's evaluation (评单), 1-5
    Column("rated_at", Float),  # username, or "system" for an auto-resolve (see flap control)
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("version", Integer, nullable=False, default=1),  # optimistic concurrency for people's actions
    # True while the ticket holds only alarms in their verification wait (no deadlines, nobody notified yet)
    Column("verifying", Boolean, nullable=False, default=False),
    Column("verify_until", Float),  # event time the earliest running verification wait of its conditions ends
    Column("overdue_since", Float),  # the first missed deadline not yet met (kept when escalation moves them)
    Column("overdue_reason", String(16)),  # ack | resolve
    # when the escalation policy next nudges (`alerts.escalation`): a reminder while open, the acknowledge
    # timeout while acknowledged but not started
    Column("nudge_at", Float),
    Index(
        "uq_tickets_active_dedup",
        "dedup_key",
        unique=True,
        sqlite_where=text("active"),
        postgresql_where=text("active"),
    ),
    Index("ix_tickets_dedup", "dedup_key", "active"),
    Index("ix_tickets_board", "microgrid_id", "active", "severity_rank", "first_seen"),
    # the list's order (`TicketStore.page`): a page is read in index order and stops at its limit; without it
    # every ticket in scope is sorted first (thousands after an alert storm)
    Index("ix_tickets_order", "severity_rank", "first_seen", "id"),
    Index("ix_tickets_ack_due", "ack_due_at"),
    Index("ix_tickets_resolve_due", "resolve_due_at"),
    Index("ix_tickets_updated", "updated_at"),
)

#: The conditions (alerts' dedup keys) a ticket holds: one for a lone rule, several when rules share a group.
ticket_members = Table(
    "ticket_members",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("dedup_key", String(256), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("severity_rank", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # `alerts.model.MemberState`
    Column("active", Boolean, nullable=False),  # its ticket is active
    Column("title", Text, nullable=False),
    Column("titles", JSON),  # the rule's title per language (`Alert.titles`); NULL: `title` in every language
    Column("details", JSON, nullable=False),
    Column("count", Integer, nullable=False, default=1),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),  # event time up to which its alerts belong to this ticket
    Column("verify_until", Float),
    Column("joined_at", Float, nullable=False),
    UniqueConstraint("ticket_id", "dedup_key"),
    Index(
        "uq_ticket_members_active",
        "dedup_key",
        unique=True,
        sqlite_where=text("active"),
        postgresql_where=text("active"),
    ),
    Index("ix_ticket_members_key", "dedup_key", "active"),
)

ticket_events = Table(
    "ticket_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16)),
    Column("note", Text),
    Column("data", JSON, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(256), nullable=False),
    Column("role", String(32), nullable=False),
    Column("scope_id", String(64), nullable=False),
    Column("display_name", String(128), nullable=False),
    Column("person_id", String(64)),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

#: Failed logins per username and per address (see `alerts.throttle`): kept across restarts.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", String(200), primary_key=True),  # "user:<normalised username>" or "addr:<address>"
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", Float, nullable=False),
    Column("wait_until", Float, nullable=False),  # no attempt under this key is checked before then
)

#: Who changed what, when and from where: accounts, silences, away, registry and rules (see `alerts.audit`).
#: Rows are only ever added.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),  # wall clock
    Column("actor", String(64), nullable=False),  # a username, or "cli:<os user>", or "service"
    Column("actor_role", String(32)),
    Column("source", String(64), nullable=False),  # the caller's address, "cli" or "config"
    Column("action", String(64), nullable=False),  # "<what>.<verb>", e.g. "silence.create"
    Column("target", String(128), nullable=False),
    Column("details", JSON, nullable=False),
    Index("ix_audit_log_action", "action", "id"),
)

#: "Away confirmed" per household (travel, hospital): until when, why, and who said so.
household_away = Table(
    "household_away",
    metadata,
    Column("household_id", String(64), primary_key=True),
    Column("until", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("set_by", String(64), nullable=False),
    Column("set_at", Float, nullable=False),
)

#: The registry's away (households.csv's `away_until`) that water use ended in the rules (`away_ends_on_use`),
#: one per household: which away (`until`), the use and the reading that showed it. The registry file is the
#: operator's and stays as imported; this says the away it holds is over (see `alerts.away`).
registry_away_end = Table(
    "registry_away_end",
    metadata,
    Column("household_id", String(64), primary_key=True),
    Column("until", Float, nullable=False),  # the registry's away_until that was ended (epoch seconds)
    Column("used_at", Float, nullable=False),  # event time: the use began in the interval from here
    Column("device_id", String(64)),  # the meter whose reading showed the use
    Column("read_at", Float),  # that reading's time (event time)
    Column("ended_at", Float, nullable=False),  # wall clock: when the service heard of it
)

#: One-time links for residents to evaluate finished work themselves (see `alerts.feedback`).
feedback_links = Table(
    "feedback_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float),
)

#: Maintenance windows: raises matching an active silence open no ticket (see `alerts.silences`).
silences = Table(
    "silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope_id", String(64), nullable=False),  # a grid node: tickets owned within it are covered
    Column("rule_id", String(64)),  # None: every rule (but never critical alerts)
    Column("device_id", String(64)),  # None: every device in the scope
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("cancelled_at", Float),
    Column("cancelled_by", String(64)),
    Column("suppressed", Integer, nullable=False, default=0),
    # recurring: ISO weekdays "2,4" and local HH:MM times; all None for a single window
    Column("repeat_days", String(32)),
    Column("repeat_from", String(5)),
    Column("repeat_to", String(5)),
    Index("ix_silences_window", "ends_at", "starts_at"),
)

held_alerts = Table(
    "silence_held_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("silence_id", Integer, ForeignKey("silences.id"), nullable=False),
    Column("dedup_key", String(256), nullable=False),
    Column("alert", LargeBinary, nullable=False),  # the raise, as msgspec JSON of `rules.alert.Alert`
    Column("held_at", Float, nullable=False),
    UniqueConstraint("silence_id", "dedup_key"),
    Index("ix_held_alerts_key", "dedup_key"),
)

#: Notifications waiting to be delivered (see `alerts.notify`): written in the same transaction as the
#: ticket change, so a crash between the change and the delivery loses nothing.
outbox = Table(
    "notification_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(64), nullable=False, unique=True),
    Column("channel", String(32), nullable=False),
    Column("ticket_id", Integer, nullable=False, index=True),
    Column("payload", JSON, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("delivered_at", Float),
    Column("failed", Boolean, nullable=False, default=False),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
    #: deliveries are kept in order per (channel, ticket, lane): a notice's lane is its recipient, so a person
    #: whose provider is down holds back only their own messages
    Column("lane", String(200), nullable=False, server_default=""),
    Index("ix_outbox_pending", "delivered_at", "failed", "next_attempt_at"),
)

#: One-tap action links sent in notices (see `alerts.actionlinks`): a random token of which only the SHA-256
#: is stored, bound to one ticket, one recipient and one action; used once, before `expires_at`.
action_links = Table(
    "action_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("audience", String(16), nullable=False),  # person | family
    Column("recipient_id", String(200), nullable=False),
    Column("recipient_name", String(128), nullable=False),
    Column("action", String(32), nullable=False),
    Column("channel", String(32), nullable=False),  # the channel the link travelled by, for the audit
    Column("delivery_id", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float),
)


ticket_photos = Table(
    "ticket_photos",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("photo_key", String(128), nullable=False),  # content address in the blob store (`alerts.blobs`)
    Column("media_type", String(32), nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("thumb_key", String(128), nullable=False),
    Column("uploaded_at", Float, nullable=False),
    Column("uploaded_by", String(64), nullable=False),  # username; the timeline event `photo` names the photo
)


async def create_tables(engine: AsyncEngine) -> None:
    """Create every table of `alerts` that does not exist yet (idempotent). The service's store gets its tables
    from the migrations (`cwatch.migrations`); this makes them in a scratch database, for tests and benchmarks."""
    async with begin_write(engine) as conn:
        await conn.run_sync(metadata.create_all)
