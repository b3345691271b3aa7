-- Connect links: a single-use, expiring secret URL that lets a person
-- without an API token connect one integration, or create one among
-- allowed providers. Only the SHA-256 of the secret is stored. Times are
-- INTEGER unix nanoseconds as in 0001; NULL is the zero time.
-- integration_id has no foreign key: a link whose integration is deleted
-- answers "deleted" (410) rather than vanishing; a link that creates an
-- integration has none until it is used. providers is a JSON array for
-- such a link and NULL otherwise. Deleted links stay (deleted_at) so that
-- their URL can say so.
CREATE TABLE connect_links (
	id             TEXT PRIMARY KEY,
	workspace_id   TEXT NOT NULL REFERENCES workspaces (id),
	integration_id TEXT,
	providers      BLOB,
	name           TEXT NOT NULL,
	hash           BLOB NOT NULL UNIQUE,
	return_url     TEXT NOT NULL,
	created_by     TEXT NOT NULL,
	created_at     INTEGER,
	expires_at     INTEGER NOT NULL,
	used_at        INTEGER,
	deleted_at     INTEGER,
	locked_at      INTEGER,
	failures       INTEGER NOT NULL DEFAULT 0,
	claimed_until  INTEGER,
	last_error     TEXT NOT NULL DEFAULT '',
	revision       INTEGER NOT NULL
);
-- Listing a workspace's, or an integration's, links a page at a time.
CREATE INDEX connect_links_workspace ON connect_links (workspace_id, id);
CREATE INDEX connect_links_integration ON connect_links (integration_id, id) WHERE integration_id IS NOT NULL;

-- An authorization started from a connect link names it, and for a link
-- that creates an integration carries what to create when it succeeds.
ALTER TABLE oauth_states ADD COLUMN link_id TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_states ADD COLUMN pending BLOB;
