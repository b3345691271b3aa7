-- Webhooks: subscriptions of a URL to a workspace's events, with their
-- delivery state on the row so any instance can resume another's work,
-- and a bounded log of delivery attempts. NULL times stand for the zero
-- time, as in 0001.

-- cursor_seq: seq of the last event delivered or passed over; delivery
-- resumes after it. failures/failing_since/next_attempt_at: the backoff of
-- the event being delivered. event_types: a JSON array ([] = all).
-- secret: vault ciphertext of the signing secret. deliveries: attempts
-- logged so far (numbers webhook_deliveries).
CREATE TABLE webhooks (
	seq             bigint GENERATED ALWAYS AS IDENTITY,
	id              text PRIMARY KEY,
	workspace_id    text NOT NULL REFERENCES workspaces (id),
	url             text NOT NULL,
	event_types     text NOT NULL,
	secret          bytea NOT NULL,
	cursor_seq      bigint NOT NULL,
	failures        integer NOT NULL DEFAULT 0,
	failing_since   timestamptz,
	next_attempt_at timestamptz,
	disabled        boolean NOT NULL DEFAULT false,
	disabled_reason text NOT NULL DEFAULT '',
	deliveries      bigint NOT NULL DEFAULT 0,
	created_at      timestamptz
);
CREATE INDEX webhooks_workspace ON webhooks (workspace_id, seq);

-- One row per delivery attempt, numbered per webhook; the oldest rows
-- beyond store.MaxWebhookDeliveries are pruned as new ones are logged.
-- error never holds a secret.
CREATE TABLE webhook_deliveries (
	webhook_id  text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	number      bigint NOT NULL,
	id          text NOT NULL UNIQUE,
	event_id    text NOT NULL,
	event_type  text NOT NULL,
	attempt     integer NOT NULL,
	status_code integer NOT NULL,
	error       text NOT NULL,
	duration_ms bigint NOT NULL,
	at          timestamptz,
	PRIMARY KEY (webhook_id, number)
);
