-- Key rotation: persisted progress of cluster-wide jobs (the re-wrap job
-- resumes from its cursor after a crash) and per-term encryption counts
-- (automatic data-key rotation). NULL times stand for the zero time, as
-- in 0001.

-- One row per named job; data is job-defined JSON and never a secret.
-- revision makes every write a compare-and-swap.
CREATE TABLE jobs (
	name        text PRIMARY KEY,
	state       text NOT NULL,
	data        bytea,
	started_at  timestamptz,
	updated_at  timestamptz,
	finished_at timestamptz,
	revision    bigint NOT NULL
);

-- Encryptions reserved under each data-key term, by every instance
-- together (reserved in blocks before use, so never an undercount).
CREATE TABLE key_usage (
	term        bigint PRIMARY KEY,
	encryptions bigint NOT NULL
);
