-- Dynamic client registrations (RFC 7591) are apps (origin 'registered'):
-- issuer and redirect_uri say where Storm registered the client; with the
-- workspace they are unique, so concurrent first uses share one client.
-- Manual apps leave both NULL.
ALTER TABLE apps ADD COLUMN issuer text;
ALTER TABLE apps ADD COLUMN redirect_uri text;
CREATE UNIQUE INDEX apps_registration ON apps (workspace_id, issuer, redirect_uri) WHERE issuer IS NOT NULL;

-- Existing registrations move into apps. Their sealed secrets are bound
-- to the old row (vault.LegacyRegistrationAD) and hold the client secret
-- and the registration access token together, so they wait in
-- secret_config with the old id in config.legacy_registration until
-- Storm starts (apps.ConvertRegistrations re-seals them as app secrets).
-- client_secret_expires_at is unix seconds (absent: never).
INSERT INTO apps (id, workspace_id, name, provider, auth_method, config, secret_config, origin,
		created_at, updated_at, revision, issuer, redirect_uri)
	SELECT 'app_' || substr(id, 5), workspace_id,
		substr(issuer, 1, 160) || ' (registered ' || substr(id, 5, 8) || ')',
		'mcp', 'oauth2',
		convert_to(jsonb_build_object('client_id', client_id, 'token_endpoint_auth_method', auth_method,
			'client_secret_expires_at', extract(epoch FROM expires_at)::bigint, 'legacy_registration', id)::text, 'UTF8'),
		secret, 'registered', created_at, created_at, 1, issuer, redirect_uri
	FROM oauth_registrations;

DROP TABLE oauth_registrations;
