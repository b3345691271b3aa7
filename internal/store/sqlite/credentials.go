package sqlite

import (
	"context"

	"github.com/stormcreds/storm/internal/store"
)

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
	return t.GetCredential(ctx, id)
}
