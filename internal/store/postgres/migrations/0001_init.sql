-- Times are timestamptz (microsecond precision); NULL stands for the zero
-- time. Secrets arrive as vault ciphertext only. seq columns order rows by
-- insertion.

CREATE TABLE workspaces (
	seq        bigint GENERATED ALWAYS AS IDENTITY,
	id         text PRIMARY KEY,
	name       text NOT NULL UNIQUE,
	created_at timestamptz
);

CREATE TABLE api_tokens (
	id           text PRIMARY KEY,
	name         text NOT NULL,
	workspace_id text NOT NULL, -- no foreign key: admin tokens may span workspaces
	role         text NOT NULL,
	hash         bytea NOT NULL UNIQUE,
	created_at   timestamptz
);

CREATE TABLE integrations (
	seq              bigint GENERATED ALWAYS AS IDENTITY,
	id               text PRIMARY KEY,
	workspace_id     text NOT NULL REFERENCES workspaces (id),
	name             text NOT NULL,
	provider         text NOT NULL,
	auth_method      text NOT NULL,
	config           bytea,
	secret_config    bytea,
	status           text NOT NULL,
	status_reason    text NOT NULL,
	created_at       timestamptz,
	updated_at       timestamptz,
	last_verified_at timestamptz,
	last_used_at     timestamptz,
	revision         bigint NOT NULL,
	UNIQUE (workspace_id, name)
);

CREATE TABLE credentials (
	id             text PRIMARY KEY,
	integration_id text NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
	workspace_id   text NOT NULL,
	version        integer NOT NULL,
	state          text NOT NULL,
	hint           text NOT NULL,
	fingerprint    text NOT NULL,
	secret         bytea,
	created_at     timestamptz,
	verified_at    timestamptz,
	expires_at     timestamptz,
	revoked_at     timestamptz,
	revision       bigint NOT NULL,
	UNIQUE (integration_id, version)
);

-- At most one active version per integration, whatever the caller does.
CREATE UNIQUE INDEX credentials_one_active ON credentials (integration_id) WHERE state = 'active';

-- Appends take an advisory lock until commit (see logs.go), so seq values
-- become visible in order and a reader paging by id never skips an entry.
CREATE TABLE events (
	seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id             text NOT NULL UNIQUE,
	workspace_id   text NOT NULL,
	integration_id text NOT NULL,
	type           text NOT NULL,
	at             timestamptz,
	data           bytea
);
CREATE INDEX events_workspace ON events (workspace_id, seq);
CREATE INDEX events_integration ON events (integration_id, seq);

CREATE TABLE audit (
	seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id           text NOT NULL UNIQUE,
	workspace_id text NOT NULL,
	actor        text NOT NULL,
	action       text NOT NULL,
	target       text NOT NULL,
	at           timestamptz,
	ip           text NOT NULL,
	detail       bytea
);
CREATE INDEX audit_workspace ON audit (workspace_id, seq);

-- The wrapped vault keyring: one row or none.
CREATE TABLE keyring (
	id   integer PRIMARY KEY CHECK (id = 1),
	data bytea NOT NULL
);
