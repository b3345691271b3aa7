-- Web UI sessions live on the server, so signing out ends a session on
-- every instance however many copies of its cookie exist. The cookie
-- (sealed by the vault) carries only the id. A deleted token takes its
-- sessions along.
CREATE TABLE ui_sessions (
	id         text PRIMARY KEY,
	token_id   text NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
	created_at timestamptz,
	expires_at timestamptz NOT NULL
);

CREATE INDEX ui_sessions_token ON ui_sessions (token_id);
CREATE INDEX ui_sessions_expires ON ui_sessions (expires_at);
