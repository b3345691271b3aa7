-- The audit hash chain (package audit). chain_seq counts 1, 2, 3… in log
-- order; prev_hash and hash are hex SHA-256. Rows already here get their
-- place in the chain in Go, in the same transaction as this migration
-- (chainExisting in postgres.go), under the migration lock.
ALTER TABLE audit ADD COLUMN chain_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE audit ADD COLUMN prev_hash text NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN hash text NOT NULL DEFAULT '';

-- Appends find the chain's head by it; unique so that no bug can give two
-- entries one place. Unchained rows (only while migrating) are left out.
CREATE UNIQUE INDEX audit_chain_seq ON audit (chain_seq) WHERE hash <> '';

-- An instance from before this migration, still running during a rolling
-- upgrade, cannot append unchained entries: its audit writes fail (and
-- its secret reads are refused) instead of leaving holes in the proof.
-- NOT VALID: rows already here are checked only when next updated, which
-- is when they are chained.
ALTER TABLE audit ADD CONSTRAINT audit_chained CHECK (hash <> '') NOT VALID;
