-- Running instances and the data-key term each seals under, written by
-- every instance each key poll (a heartbeat), so the re-wrap job knows
-- when every live instance has loaded a new key. Rows of instances gone
-- for a day are purged by the next heartbeat.
CREATE TABLE instances (
	id       TEXT PRIMARY KEY,
	key_term INTEGER NOT NULL,
	seen_at  INTEGER NOT NULL
);
