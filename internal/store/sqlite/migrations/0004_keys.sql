-- Key rotation: persisted progress of cluster-wide jobs (the re-wrap job
-- resumes from its cursor after a crash) and per-term encryption counts
-- (automatic data-key rotation). Times are INTEGER unix nanoseconds as in
-- 0001; NULL stands for the zero time.

-- One row per named job; data is job-defined JSON and never a secret.
-- revision makes every write a compare-and-swap.
CREATE TABLE jobs (
	name        TEXT PRIMARY KEY,
	state       TEXT NOT NULL,
	data        BLOB,
	started_at  INTEGER,
	updated_at  INTEGER,
	finished_at INTEGER,
	revision    INTEGER NOT NULL
);

-- Encryptions reserved under each data-key term, by every instance
-- together (reserved in blocks before use, so never an undercount).
CREATE TABLE key_usage (
	term        INTEGER PRIMARY KEY,
	encryptions INTEGER NOT NULL
);
