-- Web UI sessions live on the server, so signing out ends a session on
-- every instance however many copies of its cookie exist. The cookie
-- (sealed by the vault) carries only the id. Times are INTEGER unix
-- nanoseconds as in 0001. A deleted token takes its sessions along.
CREATE TABLE ui_sessions (
	id         TEXT PRIMARY KEY,
	token_id   TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
	created_at INTEGER,
	expires_at INTEGER NOT NULL
);

CREATE INDEX ui_sessions_token ON ui_sessions (token_id);
CREATE INDEX ui_sessions_expires ON ui_sessions (expires_at);
