-- Apps: one OAuth client registration (client id or consumer key, with
-- versioned client secrets) shared by many integrations of a workspace.
-- Times are INTEGER unix nanoseconds as in 0001; NULL is the zero time.
-- config is the flat non-secret JSON; secret_config and app_secrets.secret
-- are vault ciphertext bound to their rows.
CREATE TABLE apps (
	id            TEXT PRIMARY KEY,
	workspace_id  TEXT NOT NULL REFERENCES workspaces (id),
	name          TEXT NOT NULL,
	provider      TEXT NOT NULL,
	auth_method   TEXT NOT NULL,
	config        BLOB NOT NULL,
	secret_config BLOB,
	origin        TEXT NOT NULL,
	created_at    INTEGER,
	updated_at    INTEGER,
	revision      INTEGER NOT NULL,
	UNIQUE (workspace_id, name)
);
-- Listing a workspace's apps a page at a time in id order.
CREATE INDEX apps_workspace ON apps (workspace_id, id);

CREATE TABLE app_secrets (
	id               TEXT PRIMARY KEY,
	app_id           TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
	workspace_id     TEXT NOT NULL,
	version          INTEGER NOT NULL,
	state            TEXT NOT NULL,
	hint             TEXT NOT NULL,
	fingerprint      TEXT NOT NULL,
	secret           BLOB,
	created_at       INTEGER,
	last_used_at     INTEGER,
	last_rejected_at INTEGER,
	revoked_at       INTEGER,
	revision         INTEGER NOT NULL,
	UNIQUE (app_id, version)
);
-- At most one active (newest) secret per app, whatever the caller does.
CREATE UNIQUE INDEX app_secrets_one_active ON app_secrets (app_id) WHERE state = 'active';

-- An integration that uses an app's client instead of its own. Deleting
-- an app that integrations use is refused (the store checks first; the
-- key makes sure).
ALTER TABLE integrations ADD COLUMN app_id TEXT REFERENCES apps (id);
CREATE INDEX integrations_app ON integrations (app_id) WHERE app_id IS NOT NULL;
