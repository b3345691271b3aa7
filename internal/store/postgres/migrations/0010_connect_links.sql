-- Connect links: a single-use, expiring secret URL that lets a person
-- without an API token connect one integration, or create one among
-- allowed providers. Only the SHA-256 of the secret is stored.
-- integration_id has no foreign key: a link whose integration is deleted
-- answers "deleted" (410) rather than vanishing; a link that creates an
-- integration has none until it is used. providers is a JSON array for
-- such a link and NULL otherwise. Deleted links stay (deleted_at) so that
-- their URL can say so.
CREATE TABLE connect_links (
	id             text PRIMARY KEY,
	workspace_id   text NOT NULL REFERENCES workspaces (id),
	integration_id text,
	providers      bytea,
	name           text NOT NULL,
	hash           bytea NOT NULL UNIQUE,
	return_url     text NOT NULL,
	created_by     text NOT NULL,
	created_at     timestamptz,
	expires_at     timestamptz NOT NULL,
	used_at        timestamptz,
	deleted_at     timestamptz,
	locked_at      timestamptz,
	failures       integer NOT NULL DEFAULT 0,
	claimed_until  timestamptz,
	last_error     text NOT NULL DEFAULT '',
	revision       bigint NOT NULL
);
-- Listing a workspace's, or an integration's, links a page at a time.
CREATE INDEX connect_links_workspace ON connect_links (workspace_id, id);
CREATE INDEX connect_links_integration ON connect_links (integration_id, id) WHERE integration_id IS NOT NULL;

-- An authorization started from a connect link names it, and for a link
-- that creates an integration carries what to create when it succeeds.
ALTER TABLE oauth_states ADD COLUMN link_id text NOT NULL DEFAULT '';
ALTER TABLE oauth_states ADD COLUMN pending bytea;
