-- OAuth 2.0 and the token engine: refresh scheduling on credentials,
-- pending authorizations, and leases that coordinate work across
-- processes. Times are INTEGER unix nanoseconds as in 0001; NULL stands
-- for the zero time.

-- refresh_at: when the token engine should next refresh the version
-- (NULL: never). failures: consecutive failed refreshes.
ALTER TABLE credentials ADD COLUMN refresh_at INTEGER;
ALTER TABLE credentials ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;

-- ListDueCredentials: state = 'active' AND refresh_at <= ? ORDER BY
-- refresh_at, id is one range scan of this index, in order.
CREATE INDEX credentials_due ON credentials (state, refresh_at, id);

-- A pending authorization, keyed by the SHA-256 of its state parameter.
-- No foreign key: a state outliving its integration fails when used and
-- is purged like any other.
CREATE TABLE oauth_states (
	hash           BLOB PRIMARY KEY,
	integration_id TEXT NOT NULL,
	workspace_id   TEXT NOT NULL,
	verifier       BLOB,
	return_to      TEXT NOT NULL,
	binding        BLOB,
	actor          TEXT NOT NULL,
	created_at     INTEGER,
	expires_at     INTEGER NOT NULL
);
CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);

-- A named lease, held by owner until expires_at.
CREATE TABLE leases (
	name       TEXT PRIMARY KEY,
	owner      TEXT NOT NULL,
	expires_at INTEGER NOT NULL
);
