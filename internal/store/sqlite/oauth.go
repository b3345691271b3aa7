package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// CreateOAuthState stores a pending authorization; a taken hash is
// ErrConflict.
func (s *Store) CreateOAuthState(ctx context.Context, st store.OAuthState) error {
	err := s.write(ctx, func(tx *prepTx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_states (`+store.OAuthStateColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			st.Hash, st.IntegrationID, st.WorkspaceID, st.Verifier, st.ReturnTo, st.Binding, st.Actor,
			dbTime(st.CreatedAt), dbTime(st.ExpiresAt), st.LinkID, st.Pending)
		return dbErr(err)
	})
	if err != nil {
		// Never echo the hash: it identifies a live authorization.
		return fmt.Errorf("create oauth state for %s: %w", st.IntegrationID, err)
	}
	return nil
}

// ConsumeOAuthState deletes the state with hash and returns it, expired
// or not; ErrNotFound when there is none. In the same transaction it
// purges states expired for more than store.OAuthStatePurgeAge.
func (s *Store) ConsumeOAuthState(ctx context.Context, hash []byte) (store.OAuthState, error) {
	var st store.OAuthState
	var found error
	err := s.write(ctx, func(tx *prepTx) error {
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

// AcquireLease takes the named lease for owner until the given time if it
// is free, expired at now, or owner's already; it reports whether owner
// holds it afterwards. The upsert runs in an immediate transaction, so it
// is atomic across every process sharing the file.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, until, now time.Time) (bool, error) {
	if until.IsZero() || now.IsZero() {
		return false, fmt.Errorf("acquire lease %s: zero time", name)
	}
	var held bool
	err := s.write(ctx, func(tx *prepTx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
			WHERE leases.expires_at <= ? OR leases.owner = excluded.owner`,
			name, owner, dbTime(until), dbTime(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		held = n > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	return held, nil
}

// HoldLease takes or renews the named lease for owner for ttl. Every
// process sharing the file runs on this machine, so its clock is the
// database's clock.
func (s *Store) HoldLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("hold lease %s: ttl %v", name, ttl)
	}
	var held bool
	err := s.write(ctx, func(tx *prepTx) error {
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

// ReleaseLease frees the named lease if owner holds it; otherwise it does
// nothing.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	err := s.write(ctx, func(tx *prepTx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND owner = ?`, name, owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}

// dueQuery selects due credentials: the state (active), the bound and the
// limit.
const dueQuery = `SELECT ` + store.CredentialColumns + ` FROM credentials
	WHERE state = ? AND refresh_at IS NOT NULL AND refresh_at <= ?
	ORDER BY refresh_at, id LIMIT ?`

// ListDueCredentials returns active credentials whose RefreshAt is set
// and not after before, earliest first (ties by id), at most limit
// (store.DefaultPageLimit when not positive). It is one range scan of the
// credentials_due index.
func (s *Store) ListDueCredentials(ctx context.Context, before time.Time, limit int) ([]store.Credential, error) {
	cs, err := queryAll(ctx, s, scan.Credential, dueQuery, store.StateActive, dbTime(before), store.DueLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list due credentials: %w", err)
	}
	return cs, nil
}
