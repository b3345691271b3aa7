package sqlite

import (
	"context"

	"github.com/stormcreds/storm/internal/store"
)

// UpdateApp is store.RunUpdateApp over an immediate transaction, which
// holds the database's write lock: updates are serialised across every
// process sharing the file.
func (s *Store) UpdateApp(ctx context.Context, id string, fn func(*store.AppChange) error) (store.AppChange, error) {
	return store.RunUpdateApp(ctx, func(ctx context.Context, fn func(store.AppTx) error) error {
		return s.writePrepared(ctx, func(tx *prepTx) error { return fn(s.txn(tx)) })
	}, id, fn)
}
