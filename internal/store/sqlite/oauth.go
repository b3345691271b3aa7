package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// ConsumeOAuthState deletes the state with hash and returns it, expired
// or not; ErrNotFound when there is none. In the same transaction it
// purges states expired for more than store.OAuthStatePurgeAge.
func (s *Store) ConsumeOAuthState(ctx context.Context, hash []byte) (store.OAuthState, error) {
	var st store.OAuthState
	var found error
	err := s.writePrepared(ctx, func(tx *prepTx) error {
		st, found = scan.OAuthState(tx.QueryRowContext(ctx,
			`DELETE FROM oauth_states WHERE hash = ? RETURNING `+store.OAuthStateColumns, hash))
		if found != nil && !errors.Is(found, sql.ErrNoRows) {
			return found
		}
		// Purge even when nothing was consumed: commit either way.
		_, err := tx.ExecContext(ctx, `DELETE FROM oauth_states WHERE expires_at < ?`,
			dbTime(time.Now().Add(-store.OAuthStatePurgeAge)))
		return err
	})
	if err == nil {
		err = found
	}
	if err != nil {
		return store.OAuthState{}, fmt.Errorf("consume oauth state: %w", dbErr(err))
	}
	return st, nil
}

// HoldLease takes or renews the named lease for owner for ttl. Every
// process sharing the file runs on this machine, so its clock is the
// database's clock.
func (s *Store) HoldLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("hold lease %s: ttl %v", name, ttl)
	}
	var held bool
	err := s.writePrepared(ctx, func(tx *prepTx) error {
		// Read the clock inside the write lock: a holder's expiry is
		// then always judged after it was written.
		now := time.Now()
		res, err := tx.ExecContext(ctx, `INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
			WHERE leases.expires_at <= ? OR leases.owner = excluded.owner`,
			name, owner, dbTime(now.Add(ttl)), dbTime(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		held = n > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("hold lease %s: %w", name, err)
	}
	return held, nil
}
