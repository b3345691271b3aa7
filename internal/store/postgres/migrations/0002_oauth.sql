-- OAuth 2.0 and the token engine: refresh scheduling on credentials,
-- pending authorizations, and leases that coordinate work across
-- instances. NULL times stand for the zero time, as in 0001.

-- refresh_at: when the token engine should next refresh the version
-- (NULL: never). failures: consecutive failed refreshes.
ALTER TABLE credentials
	ADD COLUMN refresh_at timestamptz,
	ADD COLUMN failures   integer NOT NULL DEFAULT 0;

-- ListDueCredentials: state = 'active' AND refresh_at <= $1 ORDER BY
-- refresh_at, id is one range scan of this index, in order.
CREATE INDEX credentials_due ON credentials (state, refresh_at, id);

-- A pending authorization, keyed by the SHA-256 of its state parameter.
-- No foreign key: a state outliving its integration fails when used and
-- is purged like any other.
CREATE TABLE oauth_states (
	hash           bytea PRIMARY KEY,
	integration_id text NOT NULL,
	workspace_id   text NOT NULL,
	verifier       bytea,
	return_to      text NOT NULL,
	binding        bytea,
	actor          text NOT NULL,
	created_at     timestamptz,
	expires_at     timestamptz NOT NULL
);
CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);

-- A named lease, held by owner until expires_at.
CREATE TABLE leases (
	name       text PRIMARY KEY,
	owner      text NOT NULL,
	expires_at timestamptz NOT NULL
);
