package postgres

import (
	"context"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
)

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
	return t.GetCredential(ctx, id)
}
