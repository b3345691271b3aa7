-- Running instances and the data-key term each seals under, written by
-- every instance each key poll (a heartbeat), so the re-wrap job knows
-- when every live instance has loaded a new key. Rows of instances gone
-- for a day are purged by the next heartbeat.
CREATE TABLE instances (
	id       text PRIMARY KEY,
	key_term bigint NOT NULL,
	seen_at  timestamptz NOT NULL
);
