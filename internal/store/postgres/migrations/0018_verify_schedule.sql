-- The verification schedule (creds.RunVerifySchedule) reads only the
-- integrations whose turn has come, one index range, instead of walking
-- every integration each scan. next_verify_at is when an integration's
-- next scheduled verification is due; the scheduler moves it forward when
-- it takes a turn (store.ScheduleVerification). New and existing rows are
-- due at once (1970): the scheduler then verifies them, or moves the
-- turn of one verified lately to an interval after that verification.
ALTER TABLE integrations ADD COLUMN next_verify_at timestamptz NOT NULL
	DEFAULT '1970-01-01 00:00:00+00';

-- Only integrations with something to verify: the predicate is the one in
-- sqldb.DueVerificationsSQL, word for word (as SQLite needs), so the
-- planner proves the query stays inside the index.
CREATE INDEX integrations_verify_due ON integrations (next_verify_at, id)
	WHERE status NOT IN ('pending', 'disabled');

-- Turns were leases named verify:<integration id>, one row per
-- integration; the column replaces them.
DELETE FROM leases WHERE name LIKE 'verify:%';
