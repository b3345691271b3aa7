-- OAuth clients Storm registered itself (RFC 7591) at the authorization
-- servers of OAuth-protected resources (remote MCP servers): one per
-- workspace, issuer and redirect URI, shared by the workspace's
-- integrations. secret is vault ciphertext bound to the row.
CREATE TABLE oauth_registrations (
	id           text PRIMARY KEY,
	workspace_id text NOT NULL REFERENCES workspaces (id),
	issuer       text NOT NULL,
	redirect_uri text NOT NULL,
	client_id    text NOT NULL,
	auth_method  text NOT NULL,
	secret       bytea,
	created_at   timestamptz,
	expires_at   timestamptz,
	UNIQUE (workspace_id, issuer, redirect_uri)
);
