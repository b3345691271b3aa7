package postgres

import (
	"context"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
)

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
	return t.GetCredential(ctx, id)
}
