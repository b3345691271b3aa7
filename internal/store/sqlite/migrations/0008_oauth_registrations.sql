-- OAuth clients Storm registered itself (RFC 7591) at the authorization
-- servers of OAuth-protected resources (remote MCP servers): one per
-- workspace, issuer and redirect URI, shared by the workspace's
-- integrations. secret is vault ciphertext bound to the row. Times are
-- INTEGER unix nanoseconds as in 0001.
CREATE TABLE oauth_registrations (
	id           TEXT PRIMARY KEY,
	workspace_id TEXT NOT NULL REFERENCES workspaces (id),
	issuer       TEXT NOT NULL,
	redirect_uri TEXT NOT NULL,
	client_id    TEXT NOT NULL,
	auth_method  TEXT NOT NULL,
	secret       BLOB,
	created_at   INTEGER,
	expires_at   INTEGER,
	UNIQUE (workspace_id, issuer, redirect_uri)
);
