-- Times are INTEGER unix nanoseconds (UTC, microsecond precision); NULL
-- stands for the zero time. Secrets arrive as vault ciphertext only.

CREATE TABLE workspaces (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	created_at INTEGER
);

CREATE TABLE api_tokens (
	id           TEXT PRIMARY KEY,
	name         TEXT NOT NULL,
	workspace_id TEXT NOT NULL, -- no foreign key: admin tokens may span workspaces
	role         TEXT NOT NULL,
	hash         BLOB NOT NULL UNIQUE,
	created_at   INTEGER
);

CREATE TABLE integrations (
	id               TEXT PRIMARY KEY,
	workspace_id     TEXT NOT NULL REFERENCES workspaces (id),
	name             TEXT NOT NULL,
	provider         TEXT NOT NULL,
	auth_method      TEXT NOT NULL,
	config           BLOB,
	secret_config    BLOB,
	status           TEXT NOT NULL,
	status_reason    TEXT NOT NULL,
	created_at       INTEGER,
	updated_at       INTEGER,
	last_verified_at INTEGER,
	last_used_at     INTEGER,
	revision         INTEGER NOT NULL,
	UNIQUE (workspace_id, name)
);

CREATE TABLE credentials (
	id             TEXT PRIMARY KEY,
	integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
	workspace_id   TEXT NOT NULL,
	version        INTEGER NOT NULL,
	state          TEXT NOT NULL,
	hint           TEXT NOT NULL,
	fingerprint    TEXT NOT NULL,
	secret         BLOB,
	created_at     INTEGER,
	verified_at    INTEGER,
	expires_at     INTEGER,
	revoked_at     INTEGER,
	revision       INTEGER NOT NULL,
	UNIQUE (integration_id, version)
);

-- At most one active version per integration, whatever the caller does.
CREATE UNIQUE INDEX credentials_one_active ON credentials (integration_id) WHERE state = 'active';

-- seq orders the log; AUTOINCREMENT never reuses a value, so a reader that
-- remembers the last id it saw never skips or repeats an entry.
CREATE TABLE events (
	seq            INTEGER PRIMARY KEY AUTOINCREMENT,
	id             TEXT NOT NULL UNIQUE,
	workspace_id   TEXT NOT NULL,
	integration_id TEXT NOT NULL,
	type           TEXT NOT NULL,
	at             INTEGER,
	data           BLOB
);
CREATE INDEX events_workspace ON events (workspace_id, seq);
CREATE INDEX events_integration ON events (integration_id, seq);

CREATE TABLE audit (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	id           TEXT NOT NULL UNIQUE,
	workspace_id TEXT NOT NULL,
	actor        TEXT NOT NULL,
	action       TEXT NOT NULL,
	target       TEXT NOT NULL,
	at           INTEGER,
	ip           TEXT NOT NULL,
	detail       BLOB
);
CREATE INDEX audit_workspace ON audit (workspace_id, seq);

-- The wrapped vault keyring: one row or none.
CREATE TABLE keyring (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	data BLOB NOT NULL
);
