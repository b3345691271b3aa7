package sqldb

import (
	"context"
	"errors"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
)

// Tx is the part of store.Tx whose SQL both backends share, on one of
// their write transactions. A backend's Tx embeds it and adds the
// locking and the event append.
type Tx struct {
	q    *Queries
	conn Conn
}

// Tx returns the shared part of store.Tx on the transaction c.
func (q *Queries) Tx(c Conn) Tx { return Tx{q: q, conn: c} }

func (q *Queries) getCredential(ctx context.Context, c Conn, id string) (store.Credential, error) {
	cred, err := q.d.Scan.Credential(c.QueryRow(ctx, `SELECT `+store.CredentialColumns+` FROM credentials WHERE id = $1`, id))
	if err != nil {
		return store.Credential{}, fmt.Errorf("get credential %s: %w", id, q.d.Err(err))
	}
	return cred, nil
}

func (q *Queries) listCredentials(ctx context.Context, c Conn, integrationID string) ([]store.Credential, error) {
	cs, err := queryAll(ctx, c, q.d.Scan.Credential, ListCredentialsSQL, integrationID)
	if err != nil {
		return nil, fmt.Errorf("list credentials of %s: %w", integrationID, err)
	}
	return cs, nil
}

// GetCredential finds a credential version by id.
func (q *Queries) GetCredential(ctx context.Context, id string) (store.Credential, error) {
	return q.getCredential(ctx, q.read, id)
}

// ListCredentials returns an integration's versions ordered by Version;
// an unknown integration has none.
func (q *Queries) ListCredentials(ctx context.Context, integrationID string) ([]store.Credential, error) {
	return q.listCredentials(ctx, q.read, integrationID)
}

// GetCredential implements store.Tx.
func (t Tx) GetCredential(ctx context.Context, id string) (store.Credential, error) {
	return t.q.getCredential(ctx, t.conn, id)
}

// The reads of a Mutate (store.RunMutate): each one short index range
// however many versions the integration has (explain_test.go).
const (
	// LiveCredentialsSQL reads the partial index credentials_live; its
	// state term must stay as the index's WHERE is written, or the
	// databases cannot use the index.
	LiveCredentialsSQL = `SELECT ` + store.CredentialColumns + ` FROM credentials
		WHERE integration_id = $1 AND state IN ('active', 'previous') ORDER BY version`
	// MaxVersionSQL reads the last entry of (integration_id, version).
	MaxVersionSQL = `SELECT version FROM credentials WHERE integration_id = $1 ORDER BY version DESC LIMIT 1`
)

// LiveCredentials implements store.Tx.
func (t Tx) LiveCredentials(ctx context.Context, integrationID string) ([]store.Credential, error) {
	cs, err := queryAll(ctx, t.conn, t.q.d.Scan.Credential, LiveCredentialsSQL, integrationID)
	if err != nil {
		return nil, fmt.Errorf("live credentials of %s: %w", integrationID, t.q.d.Err(err))
	}
	return cs, nil
}

// MaxVersion implements store.Tx.
func (t Tx) MaxVersion(ctx context.Context, integrationID string) (int, error) {
	var v int
	err := t.conn.QueryRow(ctx, MaxVersionSQL, integrationID).Scan(&v)
	if err = t.q.d.Err(err); errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("highest credential version of %s: %w", integrationID, err)
	}
	return v, nil
}

// InsertCredential implements store.Tx.
func (t Tx) InsertCredential(ctx context.Context, c store.Credential) error {
	tm := t.q.d.Time
	_, err := t.conn.Exec(ctx, `INSERT INTO credentials (id, integration_id, workspace_id, version, state,
			hint, fingerprint, secret, created_at, verified_at, expires_at, revoked_at, refresh_at,
			failures, revision)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1)`,
		c.ID, c.IntegrationID, c.WorkspaceID, c.Version, c.State, c.Hint, c.Fingerprint, c.Secret,
		tm(c.CreatedAt), tm(c.VerifiedAt), tm(c.ExpiresAt), tm(c.RevokedAt), tm(c.RefreshAt), c.Failures)
	if err != nil {
		return fmt.Errorf("insert credential %s: %w", c.ID, t.q.d.Err(err))
	}
	return nil
}

// UpdateCredential implements store.Tx: it writes c over the row at
// revision old.
func (t Tx) UpdateCredential(ctx context.Context, c store.Credential, old int64) error {
	tm := t.q.d.Time
	n, err := t.conn.Exec(ctx, `UPDATE credentials SET version = $1, state = $2, hint = $3, fingerprint = $4,
			secret = $5, verified_at = $6, expires_at = $7, revoked_at = $8, refresh_at = $9,
			failures = $10, revision = revision + 1
		WHERE id = $11 AND revision = $12`,
		c.Version, c.State, c.Hint, c.Fingerprint, c.Secret, tm(c.VerifiedAt), tm(c.ExpiresAt),
		tm(c.RevokedAt), tm(c.RefreshAt), c.Failures, c.ID, old)
	if err != nil {
		return fmt.Errorf("update credential %s: %w", c.ID, t.q.d.Err(err))
	}
	if err := affected(n, nil, store.ErrConflict); err != nil {
		return fmt.Errorf("update credential %s: %w", c.ID, err)
	}
	return nil
}
