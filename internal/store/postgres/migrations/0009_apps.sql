-- Apps: one OAuth client registration (client id or consumer key, with
-- versioned client secrets) shared by many integrations of a workspace.
-- config is the flat non-secret JSON; secret_config and app_secrets.secret
-- are vault ciphertext bound to their rows.
CREATE TABLE apps (
	id            text PRIMARY KEY,
	workspace_id  text NOT NULL REFERENCES workspaces (id),
	name          text NOT NULL,
	provider      text NOT NULL,
	auth_method   text NOT NULL,
	config        bytea NOT NULL,
	secret_config bytea,
	origin        text NOT NULL,
	created_at    timestamptz,
	updated_at    timestamptz,
	revision      bigint NOT NULL,
	UNIQUE (workspace_id, name)
);
-- Listing a workspace's apps a page at a time in id order.
CREATE INDEX apps_workspace ON apps (workspace_id, id);

CREATE TABLE app_secrets (
	id               text PRIMARY KEY,
	app_id           text NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
	workspace_id     text NOT NULL,
	version          integer NOT NULL,
	state            text NOT NULL,
	hint             text NOT NULL,
	fingerprint      text NOT NULL,
	secret           bytea,
	created_at       timestamptz,
	last_used_at     timestamptz,
	last_rejected_at timestamptz,
	revoked_at       timestamptz,
	revision         bigint NOT NULL,
	UNIQUE (app_id, version)
);
-- At most one active (newest) secret per app, whatever the caller does.
CREATE UNIQUE INDEX app_secrets_one_active ON app_secrets (app_id) WHERE state = 'active';

-- An integration that uses an app's client instead of its own. Deleting
-- an app that integrations use is refused (the store checks under the
-- app's row lock; the key makes sure).
ALTER TABLE integrations ADD COLUMN app_id text REFERENCES apps (id);
CREATE INDEX integrations_app ON integrations (app_id) WHERE app_id IS NOT NULL;
