-- Journal segments already folded into the audit log (store.FoldAudit):
-- a segment found again after a crash between its fold and the removal
-- of its file is skipped instead of counted twice. A mark is dropped by
-- a later fold once the file is gone.
CREATE TABLE audit_folds (
	segment   TEXT PRIMARY KEY,
	folded_at TEXT NOT NULL
);
