package sqlite

import (
	"context"

	"github.com/stormcreds/storm/internal/store"
)

// LockIntegration implements store.Tx; the transaction holds the write
// lock already.
func (t txn) LockIntegration(ctx context.Context, id string) (store.Integration, error) {
	return t.GetIntegration(ctx, id)
}

// UpdateIntegration applies fn to the current integration and stores the
// result unless fn fails, whose error is returned unchanged.
func (s *Store) UpdateIntegration(ctx context.Context, id string, fn func(store.Integration) (store.Integration, error)) (store.Integration, error) {
	return store.RunUpdateIntegration(ctx, s.writeTx, id, fn)
}
