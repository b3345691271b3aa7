package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/stormcreds/storm/internal/store"
)

// UpdateApp is store.RunUpdateApp holding the app's row lock, which
// serialises it across all instances.
func (s *Store) UpdateApp(ctx context.Context, id string, fn func(*store.AppChange) error) (store.AppChange, error) {
	return store.RunUpdateApp(ctx, func(ctx context.Context, fn func(store.AppTx) error) error {
		return s.inTx(ctx, func(tx pgx.Tx) error { return fn(s.txn(tx)) })
	}, id, fn)
}
