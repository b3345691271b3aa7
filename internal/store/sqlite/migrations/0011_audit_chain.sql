-- The audit hash chain (package audit). chain_seq counts 1, 2, 3… in log
-- order; prev_hash and hash are hex SHA-256. Rows already here get their
-- place in the chain in Go, in the same transaction as this migration
-- (chainExisting in sqlite.go), since SQLite has no SHA-256.
ALTER TABLE audit ADD COLUMN chain_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT '';

-- Appends find the chain's head by it; unique so that no bug can give two
-- entries one place. Unchained rows (only while migrating) are left out.
CREATE UNIQUE INDEX audit_chain_seq ON audit (chain_seq) WHERE hash <> '';

-- An entry written without the chain (a binary from before this
-- migration sharing the file) is refused rather than left unverifiable.
CREATE TRIGGER audit_chained BEFORE INSERT ON audit WHEN NEW.hash = ''
BEGIN
	SELECT RAISE(ABORT, 'audit entry not chained');
END;
