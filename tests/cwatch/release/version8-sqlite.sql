CREATE TABLE devices_buildings (
	pos INTEGER NOT NULL,
	id VARCHAR(64) NOT NULL,
	name TEXT NOT NULL,
	microgrid_id VARCHAR(64) NOT NULL,
	floors INTEGER NOT NULL,
	lat FLOAT,
	lon FLOAT,
	PRIMARY KEY (pos),
	UNIQUE (id)
);

CREATE TABLE devices_communities (
	pos INTEGER NOT NULL,
	id VARCHAR(64) NOT NULL,
	name TEXT NOT NULL,
	street_id VARCHAR(64) NOT NULL,
	PRIMARY KEY (pos),
	UNIQUE (id)
);

CREATE TABLE devices_contacts (
	pos INTEGER NOT NULL,
	channel VARCHAR(32) NOT NULL,
	address TEXT NOT NULL,
	person_id VARCHAR(64),
	household_id VARCHAR(64),
	name TEXT NOT NULL,
	relation TEXT NOT NULL,
	priority INTEGER NOT NULL,
	consent BOOLEAN NOT NULL,
	quiet_start VARCHAR(8),
	quiet_end VARCHAR(8),
	PRIMARY KEY (pos)
);

CREATE INDEX ix_devices_contacts_household_id ON devices_contacts (household_id);

CREATE INDEX ix_devices_contacts_person_id ON devices_contacts (person_id);

CREATE TABLE devices_devices (
	pos INTEGER NOT NULL,
	id VARCHAR(64) NOT NULL,
	device_class VARCHAR(32) NOT NULL,
	building_id VARCHAR(64) NOT NULL,
	household_id VARCHAR(64),
	expected_interval_s INTEGER NOT NULL,
	installed VARCHAR(10),
	label TEXT NOT NULL,
	gateway_id VARCHAR(64),
	PRIMARY KEY (pos),
	UNIQUE (id)
);

CREATE TABLE devices_grids (
	pos INTEGER NOT NULL,
	id VARCHAR(64) NOT NULL,
	name TEXT NOT NULL,
	community_id VARCHAR(64) NOT NULL,
	PRIMARY KEY (pos),
	UNIQUE (id)
);

CREATE TABLE devices_households (
	pos INTEGER NOT NULL,
	id VARCHAR(64) NOT NULL,
	building_id VARCHAR(64) NOT NULL,
	unit TEXT NOT NULL,
	floor INTEGER NOT NULL,
	lives_alone BOOLEAN NOT NULL,
	elderly BOOLEAN NOT NULL,
	consent BOOLEAN NOT NULL,
	emergency_contacts TEXT NOT NULL,
	quiet_start VARCHAR(8),
	quiet_end VARCHAR(8),
	away_until VARCHAR(40),
	PRIMARY KEY (pos),
	UNIQUE (id)
);

CREATE TABLE devices_microgrids (
	pos INTEGER NOT NULL,
	id VARCHAR(64) NOT NULL,
	name TEXT NOT NULL,
	grid_id VARCHAR(64) NOT NULL,
	PRIMARY KEY (pos),
	UNIQUE (id)
);

CREATE TABLE devices_people (
	pos INTEGER NOT NULL,
	id VARCHAR(64) NOT NULL,
	name TEXT NOT NULL,
	role VARCHAR(32) NOT NULL,
	scope_id VARCHAR(64) NOT NULL,
	phone TEXT NOT NULL,
	email TEXT NOT NULL,
	PRIMARY KEY (pos),
	UNIQUE (id)
);

CREATE TABLE devices_registry_revision (
	id INTEGER NOT NULL,
	revision INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE TABLE devices_roster (
	pos INTEGER NOT NULL,
	person_id VARCHAR(64) NOT NULL,
	microgrid_id VARCHAR(64) NOT NULL,
	start VARCHAR(40) NOT NULL,
	"end" VARCHAR(40) NOT NULL,
	PRIMARY KEY (pos)
);

CREATE INDEX ix_devices_roster_microgrid_id ON devices_roster (microgrid_id);

CREATE TABLE devices_streets (
	pos INTEGER NOT NULL,
	id VARCHAR(64) NOT NULL,
	name TEXT NOT NULL,
	PRIMARY KEY (pos),
	UNIQUE (id)
);

CREATE TABLE ingest_dead_letter_marks (
	spool_id VARCHAR(32) NOT NULL,
	stored_up_to BIGINT NOT NULL,
	PRIMARY KEY (spool_id)
);

CREATE TABLE ingest_dead_letters (
	id INTEGER NOT NULL,
	topic TEXT NOT NULL,
	payload BLOB NOT NULL,
	payload_size INTEGER NOT NULL,
	reason VARCHAR(32) NOT NULL,
	detail TEXT NOT NULL,
	received_at DOUBLE NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_ingest_dead_letters_reason_id ON ingest_dead_letters (reason, id);

CREATE TABLE rule_state (
	id INTEGER NOT NULL,
	snapshot BLOB NOT NULL,
	watermark FLOAT,
	saved_at FLOAT NOT NULL,
	PRIMARY KEY (id)
);

CREATE TABLE accounts (
	id INTEGER NOT NULL,
	username VARCHAR(64) NOT NULL,
	password_hash VARCHAR(256) NOT NULL,
	role VARCHAR(32) NOT NULL,
	scope_id VARCHAR(64) NOT NULL,
	display_name VARCHAR(128) NOT NULL,
	person_id VARCHAR(64),
	disabled BOOLEAN NOT NULL,
	created_at FLOAT NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (username)
);

CREATE TABLE audit_log (
	id INTEGER NOT NULL,
	at FLOAT NOT NULL,
	actor VARCHAR(64) NOT NULL,
	actor_role VARCHAR(32),
	source VARCHAR(64) NOT NULL,
	action VARCHAR(64) NOT NULL,
	target VARCHAR(128) NOT NULL,
	details JSON NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_audit_log_action ON audit_log (action, id);

CREATE TABLE household_away (
	household_id VARCHAR(64) NOT NULL,
	until FLOAT NOT NULL,
	reason TEXT NOT NULL,
	set_by VARCHAR(64) NOT NULL,
	set_at FLOAT NOT NULL,
	PRIMARY KEY (household_id)
);

CREATE TABLE login_throttle (
	"key" VARCHAR(200) NOT NULL,
	failures INTEGER NOT NULL,
	last_failure_at FLOAT NOT NULL,
	wait_until FLOAT NOT NULL,
	PRIMARY KEY ("key")
);

CREATE TABLE notification_outbox (
	id INTEGER NOT NULL,
	delivery_id VARCHAR(64) NOT NULL,
	channel VARCHAR(32) NOT NULL,
	ticket_id INTEGER NOT NULL,
	payload JSON NOT NULL,
	attempts INTEGER NOT NULL,
	next_attempt_at FLOAT NOT NULL,
	delivered_at FLOAT,
	failed BOOLEAN NOT NULL,
	last_error TEXT,
	created_at FLOAT NOT NULL,
	lane VARCHAR(200) DEFAULT '' NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (delivery_id)
);

CREATE INDEX ix_notification_outbox_ticket_id ON notification_outbox (ticket_id);

CREATE INDEX ix_outbox_pending ON notification_outbox (delivered_at, failed, next_attempt_at);

CREATE TABLE silences (
	id INTEGER NOT NULL,
	scope_id VARCHAR(64) NOT NULL,
	rule_id VARCHAR(64),
	device_id VARCHAR(64),
	starts_at FLOAT NOT NULL,
	ends_at FLOAT NOT NULL,
	comment TEXT NOT NULL,
	created_by VARCHAR(64) NOT NULL,
	created_at FLOAT NOT NULL,
	cancelled_at FLOAT,
	cancelled_by VARCHAR(64),
	suppressed INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_silences_window ON silences (ends_at, starts_at);

CREATE TABLE tickets (
	id INTEGER NOT NULL,
	dedup_key VARCHAR(256) NOT NULL,
	rule_id VARCHAR(64) NOT NULL,
	severity VARCHAR(16) NOT NULL,
	severity_rank INTEGER NOT NULL,
	status VARCHAR(16) NOT NULL,
	active BOOLEAN NOT NULL,
	title TEXT NOT NULL,
	details JSON NOT NULL,
	device_id VARCHAR(64),
	household_id VARCHAR(64),
	building_id VARCHAR(64),
	community_id VARCHAR(64),
	microgrid_id VARCHAR(64) NOT NULL,
	assignee_id VARCHAR(64),
	escalation_level INTEGER NOT NULL,
	count INTEGER NOT NULL,
	first_seen FLOAT NOT NULL,
	last_seen FLOAT NOT NULL,
	ack_due_at FLOAT,
	resolve_due_at FLOAT,
	cleared BOOLEAN NOT NULL,
	cleared_at FLOAT,
	acknowledged_at FLOAT,
	resolved_at FLOAT,
	resolved_by VARCHAR(64),
	rating INTEGER,
	rated_at FLOAT,
	created_at FLOAT NOT NULL,
	updated_at FLOAT NOT NULL,
	version INTEGER NOT NULL,
	verifying BOOLEAN NOT NULL,
	verify_until FLOAT,
	overdue_since FLOAT,
	overdue_reason VARCHAR(16),
	nudge_at FLOAT,
	PRIMARY KEY (id)
);

CREATE INDEX ix_tickets_ack_due ON tickets (ack_due_at);

CREATE INDEX ix_tickets_board ON tickets (microgrid_id, active, severity_rank, first_seen);

CREATE INDEX ix_tickets_dedup ON tickets (dedup_key, active);

CREATE INDEX ix_tickets_resolve_due ON tickets (resolve_due_at);

CREATE INDEX ix_tickets_updated ON tickets (updated_at);

CREATE UNIQUE INDEX uq_tickets_active_dedup ON tickets (dedup_key) WHERE active;

CREATE TABLE action_links (
	token_hash VARCHAR(64) NOT NULL,
	ticket_id INTEGER NOT NULL,
	audience VARCHAR(16) NOT NULL,
	recipient_id VARCHAR(200) NOT NULL,
	recipient_name VARCHAR(128) NOT NULL,
	action VARCHAR(32) NOT NULL,
	channel VARCHAR(32) NOT NULL,
	delivery_id VARCHAR(64) NOT NULL,
	created_at FLOAT NOT NULL,
	expires_at FLOAT NOT NULL,
	used_at FLOAT,
	PRIMARY KEY (token_hash),
	FOREIGN KEY(ticket_id) REFERENCES tickets (id) ON DELETE CASCADE
);

CREATE INDEX ix_action_links_ticket_id ON action_links (ticket_id);

CREATE TABLE feedback_links (
	token_hash VARCHAR(64) NOT NULL,
	ticket_id INTEGER NOT NULL,
	created_by VARCHAR(64) NOT NULL,
	created_at FLOAT NOT NULL,
	expires_at FLOAT NOT NULL,
	used_at FLOAT,
	PRIMARY KEY (token_hash),
	FOREIGN KEY(ticket_id) REFERENCES tickets (id) ON DELETE CASCADE
);

CREATE INDEX ix_feedback_links_ticket_id ON feedback_links (ticket_id);

CREATE TABLE sessions (
	token_hash VARCHAR(64) NOT NULL,
	account_id INTEGER NOT NULL,
	created_at FLOAT NOT NULL,
	expires_at FLOAT NOT NULL,
	PRIMARY KEY (token_hash),
	FOREIGN KEY(account_id) REFERENCES accounts (id) ON DELETE CASCADE
);

CREATE INDEX ix_sessions_account_id ON sessions (account_id);

CREATE TABLE silence_held_alerts (
	id INTEGER NOT NULL,
	silence_id INTEGER NOT NULL,
	dedup_key VARCHAR(256) NOT NULL,
	alert BLOB NOT NULL,
	held_at FLOAT NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (silence_id, dedup_key),
	FOREIGN KEY(silence_id) REFERENCES silences (id)
);

CREATE INDEX ix_held_alerts_key ON silence_held_alerts (dedup_key);

CREATE TABLE ticket_events (
	id INTEGER NOT NULL,
	ticket_id INTEGER NOT NULL,
	at FLOAT NOT NULL,
	actor VARCHAR(64) NOT NULL,
	action VARCHAR(32) NOT NULL,
	from_status VARCHAR(16),
	to_status VARCHAR(16),
	note TEXT,
	data JSON NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(ticket_id) REFERENCES tickets (id) ON DELETE CASCADE
);

CREATE INDEX ix_ticket_events_ticket_id ON ticket_events (ticket_id);

CREATE TABLE ticket_members (
	id INTEGER NOT NULL,
	ticket_id INTEGER NOT NULL,
	dedup_key VARCHAR(256) NOT NULL,
	rule_id VARCHAR(64) NOT NULL,
	severity VARCHAR(16) NOT NULL,
	severity_rank INTEGER NOT NULL,
	state VARCHAR(16) NOT NULL,
	active BOOLEAN NOT NULL,
	title TEXT NOT NULL,
	details JSON NOT NULL,
	count INTEGER NOT NULL,
	first_seen FLOAT NOT NULL,
	last_seen FLOAT NOT NULL,
	verify_until FLOAT,
	joined_at FLOAT NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (ticket_id, dedup_key),
	FOREIGN KEY(ticket_id) REFERENCES tickets (id) ON DELETE CASCADE
);

CREATE INDEX ix_ticket_members_key ON ticket_members (dedup_key, active);

CREATE INDEX ix_ticket_members_ticket_id ON ticket_members (ticket_id);

CREATE UNIQUE INDEX uq_ticket_members_active ON ticket_members (dedup_key) WHERE active;

CREATE TABLE ticket_photos (
	id INTEGER NOT NULL,
	ticket_id INTEGER NOT NULL,
	photo_key VARCHAR(128) NOT NULL,
	media_type VARCHAR(32) NOT NULL,
	bytes INTEGER NOT NULL,
	width INTEGER NOT NULL,
	height INTEGER NOT NULL,
	thumb_key VARCHAR(128) NOT NULL,
	uploaded_at FLOAT NOT NULL,
	uploaded_by VARCHAR(64) NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(ticket_id) REFERENCES tickets (id) ON DELETE CASCADE
);

CREATE INDEX ix_ticket_photos_ticket_id ON ticket_photos (ticket_id);

CREATE TABLE cwatch_schema (
	id INTEGER NOT NULL,
	version INTEGER NOT NULL,
	PRIMARY KEY (id)
);

INSERT INTO devices_registry_revision (id, revision) VALUES (1, 0);

INSERT INTO cwatch_schema (id, version) VALUES (1, 8);
