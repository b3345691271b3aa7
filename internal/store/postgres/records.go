package postgres

import (
	"context"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
)

// LockIntegration implements store.Tx: it loads an integration and locks
// its row until the transaction ends. Every Mutate, UpdateIntegration and
// UpdateCredential of the integration takes this lock first, which
// serialises them across all instances.
func (t txn) LockIntegration(ctx context.Context, id string) (store.Integration, error) {
	in, err := scan.Integration(t.tx.QueryRow(ctx, `SELECT `+store.IntegrationColumns+` FROM integrations WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return store.Integration{}, fmt.Errorf("lock integration %s: %w", id, dbErr(err))
	}
	return in, nil
}

// UpdateIntegration applies fn to the current integration, holding its
// row lock, and stores the result unless fn fails, whose error is
// returned unchanged.
func (s *Store) UpdateIntegration(ctx context.Context, id string, fn func(store.Integration) (store.Integration, error)) (store.Integration, error) {
	return store.RunUpdateIntegration(ctx, s.writeTx, id, fn)
}
