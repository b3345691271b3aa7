-- Webhooks: subscriptions of a URL to a workspace's events, with their
-- delivery state on the row so any process can resume another's work,
-- and a bounded log of delivery attempts. Times are INTEGER unix
-- nanoseconds as in 0001; NULL stands for the zero time.

-- cursor_seq: seq of the last event delivered or passed over; delivery
-- resumes after it. failures/failing_since/next_attempt_at: the backoff of
-- the event being delivered. event_types: a JSON array ([] = all).
-- secret: vault ciphertext of the signing secret. deliveries: attempts
-- logged so far (numbers webhook_deliveries).
CREATE TABLE webhooks (
	id              TEXT PRIMARY KEY,
	workspace_id    TEXT NOT NULL REFERENCES workspaces (id),
	url             TEXT NOT NULL,
	event_types     TEXT NOT NULL,
	secret          BLOB NOT NULL,
	cursor_seq      INTEGER NOT NULL,
	failures        INTEGER NOT NULL DEFAULT 0,
	failing_since   INTEGER,
	next_attempt_at INTEGER,
	disabled        INTEGER NOT NULL DEFAULT 0,
	disabled_reason TEXT NOT NULL DEFAULT '',
	deliveries      INTEGER NOT NULL DEFAULT 0,
	created_at      INTEGER
);
CREATE INDEX webhooks_workspace ON webhooks (workspace_id);

-- One row per delivery attempt, numbered per webhook; the oldest rows
-- beyond store.MaxWebhookDeliveries are pruned as new ones are logged.
-- error never holds a secret.
CREATE TABLE webhook_deliveries (
	webhook_id  TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	number      INTEGER NOT NULL,
	id          TEXT NOT NULL UNIQUE,
	event_id    TEXT NOT NULL,
	event_type  TEXT NOT NULL,
	attempt     INTEGER NOT NULL,
	status_code INTEGER NOT NULL,
	error       TEXT NOT NULL,
	duration_ms INTEGER NOT NULL,
	at          INTEGER,
	PRIMARY KEY (webhook_id, number)
);
