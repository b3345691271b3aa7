package sqlite

import (
	"context"

	"github.com/stormcreds/storm/internal/store"
)

// LockCredential implements store.Tx; the transaction holds the write
// lock already.
func (t txn) LockCredential(ctx context.Context, id string) (store.Credential, error) {
	return t.GetCredential(ctx, id)
}
