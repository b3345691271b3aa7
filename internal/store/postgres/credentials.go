package postgres

import (
	"context"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

func getCredential(ctx context.Context, q querier, id string) (store.Credential, error) {
	c, err := scan.Credential(q.QueryRow(ctx, `SELECT `+store.CredentialColumns+` FROM credentials WHERE id = $1`, id))
	if err != nil {
		return store.Credential{}, fmt.Errorf("get credential %s: %w", id, dbErr(err))
	}
	return c, nil
}

func listCredentials(ctx context.Context, q querier, integrationID string) ([]store.Credential, error) {
	rows, err := q.Query(ctx, sqldb.ListCredentialsSQL, integrationID)
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
	return getCredential(ctx, s.pool, id)
}

// ListCredentials returns an integration's versions ordered by Version;
// an unknown integration has none.
func (s *Store) ListCredentials(ctx context.Context, integrationID string) ([]store.Credential, error) {
	return listCredentials(ctx, s.pool, integrationID)
}

// InsertCredential implements store.Tx.
func (t txn) InsertCredential(ctx context.Context, c store.Credential) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO credentials (id, integration_id, workspace_id, version, state,
			hint, fingerprint, secret, created_at, verified_at, expires_at, revoked_at, refresh_at,
			failures, revision)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1)`,
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
	tag, err := t.tx.Exec(ctx, `UPDATE credentials SET version = $1, state = $2, hint = $3, fingerprint = $4,
			secret = $5, verified_at = $6, expires_at = $7, revoked_at = $8, refresh_at = $9,
			failures = $10, revision = revision + 1
		WHERE id = $11 AND revision = $12`,
		c.Version, c.State, c.Hint, c.Fingerprint, c.Secret, dbTime(c.VerifiedAt), dbTime(c.ExpiresAt),
		dbTime(c.RevokedAt), dbTime(c.RefreshAt), c.Failures, c.ID, old)
	if err != nil {
		return fmt.Errorf("update credential %s: %w", c.ID, dbErr(err))
	}
	if err := affected(tag, store.ErrConflict); err != nil {
		return fmt.Errorf("update credential %s: %w", c.ID, err)
	}
	return nil
}

// Mutate is store.RunMutate under the integration's row lock. fn must not
// call the store for the same integration: it would wait for the lock
// fn's caller holds.
func (s *Store) Mutate(ctx context.Context, integrationID string, fn func(*store.CredentialSet) error) (store.CredentialSet, error) {
	return store.RunMutate(ctx, s.writeTx, integrationID, fn)
}

// UpdateCredential applies fn to the current credential and stores the
// result unless fn fails, whose error is returned unchanged. It holds the
// lock of the credential's integration, so it is serialised with Mutate.
func (s *Store) UpdateCredential(ctx context.Context, id string, fn func(store.Credential) (store.Credential, error)) (store.Credential, error) {
	return store.RunUpdateCredential(ctx, s.writeTx, id, fn)
}

// LockCredential implements store.Tx: it takes the lock of the
// credential's integration, then loads the credential.
func (t txn) LockCredential(ctx context.Context, id string) (store.Credential, error) {
	var integrationID string
	err := t.tx.QueryRow(ctx, `SELECT integration_id FROM credentials WHERE id = $1`, id).Scan(&integrationID)
	if err != nil {
		return store.Credential{}, fmt.Errorf("get credential %s: %w", id, dbErr(err))
	}
	if _, err := t.LockIntegration(ctx, integrationID); err != nil {
		return store.Credential{}, err
	}
	// Load after locking: READ COMMITTED gives this statement a fresh
	// snapshot, so it sees the last committed write.
	return getCredential(ctx, t.tx, id)
}

func (t txn) GetCredential(ctx context.Context, id string) (store.Credential, error) {
	return getCredential(ctx, t.tx, id)
}

func (t txn) ListCredentials(ctx context.Context, integrationID string) ([]store.Credential, error) {
	return listCredentials(ctx, t.tx, integrationID)
}
