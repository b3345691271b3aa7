package sqlite

import (
	"context"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

func getCredential(ctx context.Context, q querier, id string) (store.Credential, error) {
	c, err := scan.Credential(q.QueryRowContext(ctx, `SELECT `+store.CredentialColumns+` FROM credentials WHERE id = ?`, id))
	if err != nil {
		return store.Credential{}, fmt.Errorf("get credential %s: %w", id, dbErr(err))
	}
	return c, nil
}

func listCredentials(ctx context.Context, q querier, integrationID string) ([]store.Credential, error) {
	rows, err := q.QueryContext(ctx, sqldb.ListCredentialsSQL, integrationID)
	if err != nil {
		return nil, fmt.Errorf("list credentials of %s: %w", integrationID, err)
	}
	cs, err := collect(rows, scan.Credential)
	if err != nil {
		return nil, fmt.Errorf("list credentials of %s: %w", integrationID, err)
	}
	return cs, nil
}

// GetCredential finds a credential version by id.
func (s *Store) GetCredential(ctx context.Context, id string) (store.Credential, error) {
	return getCredential(ctx, s.ro, id)
}

// ListCredentials returns an integration's versions ordered by Version;
// an unknown integration has none.
func (s *Store) ListCredentials(ctx context.Context, integrationID string) ([]store.Credential, error) {
	return listCredentials(ctx, s.ro, integrationID)
}

// InsertCredential implements store.Tx.
func (t txn) InsertCredential(ctx context.Context, c store.Credential) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO credentials (id, integration_id, workspace_id, version, state,
			hint, fingerprint, secret, created_at, verified_at, expires_at, revoked_at, refresh_at,
			failures, revision)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
		c.ID, c.IntegrationID, c.WorkspaceID, c.Version, c.State, c.Hint, c.Fingerprint, c.Secret,
		dbTime(c.CreatedAt), dbTime(c.VerifiedAt), dbTime(c.ExpiresAt), dbTime(c.RevokedAt),
		dbTime(c.RefreshAt), c.Failures)
	if err != nil {
		return fmt.Errorf("insert credential %s: %w", c.ID, dbErr(err))
	}
	return nil
}

// UpdateCredential implements store.Tx: it writes c over the row at
// revision old.
func (t txn) UpdateCredential(ctx context.Context, c store.Credential, old int64) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE credentials SET version = ?, state = ?, hint = ?, fingerprint = ?,
			secret = ?, verified_at = ?, expires_at = ?, revoked_at = ?, refresh_at = ?, failures = ?,
			revision = revision + 1
		WHERE id = ? AND revision = ?`,
		c.Version, c.State, c.Hint, c.Fingerprint, c.Secret, dbTime(c.VerifiedAt), dbTime(c.ExpiresAt),
		dbTime(c.RevokedAt), dbTime(c.RefreshAt), c.Failures, c.ID, old)
	if err != nil {
		return fmt.Errorf("update credential %s: %w", c.ID, dbErr(err))
	}
	if err := affected(res, store.ErrConflict); err != nil {
		return fmt.Errorf("update credential %s: %w", c.ID, err)
	}
	return nil
}

// Mutate is store.RunMutate in one immediate transaction, which also
// serialises it against every other write. fn may read through the store
// but must not write: the one write connection is busy with this
// transaction.
func (s *Store) Mutate(ctx context.Context, integrationID string, fn func(*store.CredentialSet) error) (store.CredentialSet, error) {
	return store.RunMutate(ctx, s.writeTx, integrationID, fn)
}

// UpdateCredential applies fn to the current credential and stores the
// result unless fn fails, whose error is returned unchanged.
func (s *Store) UpdateCredential(ctx context.Context, id string, fn func(store.Credential) (store.Credential, error)) (store.Credential, error) {
	return store.RunUpdateCredential(ctx, s.writeTx, id, fn)
}

// LockCredential implements store.Tx; the transaction holds the write
// lock already.
func (t txn) LockCredential(ctx context.Context, id string) (store.Credential, error) {
	return getCredential(ctx, t.tx, id)
}

func (t txn) GetCredential(ctx context.Context, id string) (store.Credential, error) {
	return getCredential(ctx, t.tx, id)
}

func (t txn) ListCredentials(ctx context.Context, integrationID string) ([]store.Credential, error) {
	return listCredentials(ctx, t.tx, integrationID)
}
