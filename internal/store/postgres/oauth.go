package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// CreateOAuthState stores a pending authorization; a taken hash is
// ErrConflict.
func (s *Store) CreateOAuthState(ctx context.Context, st store.OAuthState) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO oauth_states (`+store.OAuthStateColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		st.Hash, st.IntegrationID, st.WorkspaceID, st.Verifier, st.ReturnTo, st.Binding, st.Actor,
		dbTime(st.CreatedAt), dbTime(st.ExpiresAt), st.LinkID, st.Pending)
	if err != nil {
		// Never echo the hash: it identifies a live authorization.
		return fmt.Errorf("create oauth state for %s: %w", st.IntegrationID, dbErr(err))
	}
	return nil
}

// purgeBatch bounds how many long-expired states one ConsumeOAuthState
// purges, so the statement stays short whatever piled up.
const purgeBatch = 100

// ConsumeOAuthState deletes the state with hash and returns it, expired
// or not; ErrNotFound when there is none. Of concurrent consumers of one
// hash exactly one gets the state: the others wait for its row lock and
// then find the row gone. The same statement purges states expired for
// more than store.OAuthStatePurgeAge, skipping rows other transactions
// hold, so two consumers never wait for each other's purge.
func (s *Store) ConsumeOAuthState(ctx context.Context, hash []byte) (store.OAuthState, error) {
	st, err := scan.OAuthState(s.pool.QueryRow(ctx, `WITH purged AS (
			DELETE FROM oauth_states WHERE hash IN (
				SELECT hash FROM oauth_states WHERE expires_at < $2 AND hash <> $1
				LIMIT $3 FOR UPDATE SKIP LOCKED))
		DELETE FROM oauth_states WHERE hash = $1 RETURNING `+store.OAuthStateColumns,
		hash, dbTime(time.Now().Add(-store.OAuthStatePurgeAge)), purgeBatch))
	if err != nil {
		return store.OAuthState{}, fmt.Errorf("consume oauth state: %w", dbErr(err))
	}
	return st, nil
}

// AcquireLease takes the named lease for owner until the given time if it
// is free, expired at now, or owner's already; it reports whether owner
// holds it afterwards. The upsert is one statement: concurrent callers
// on any instance queue on the row, and each sees the winner's row when
// its turn comes.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, until, now time.Time) (bool, error) {
	if until.IsZero() || now.IsZero() {
		return false, fmt.Errorf("acquire lease %s: zero time", name)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
		WHERE leases.expires_at <= $4 OR leases.owner = excluded.owner`,
		name, owner, dbTime(until), dbTime(now))
	if err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", name, dbErr(err))
	}
	return tag.RowsAffected() > 0, nil
}

// HoldLease takes or renews the named lease for owner for ttl, judged by
// the server's clock (clock_timestamp(), read when the row is locked), so
// instances with skewed clocks agree on who holds it.
func (s *Store) HoldLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("hold lease %s: ttl %v", name, ttl)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO leases (name, owner, expires_at)
		VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,
			expires_at = clock_timestamp() + make_interval(secs => $3)
		WHERE leases.expires_at <= clock_timestamp() OR leases.owner = excluded.owner`,
		name, owner, ttl.Seconds())
	if err != nil {
		return false, fmt.Errorf("hold lease %s: %w", name, dbErr(err))
	}
	return tag.RowsAffected() > 0, nil
}

// ReleaseLease frees the named lease if owner holds it; otherwise it does
// nothing.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND owner = $2`, name, owner); err != nil {
		return fmt.Errorf("release lease %s: %w", name, dbErr(err))
	}
	return nil
}

// dueQuery selects due credentials: the state (active), the bound and the
// limit.
const dueQuery = `SELECT ` + store.CredentialColumns + ` FROM credentials
	WHERE state = $1 AND refresh_at IS NOT NULL AND refresh_at <= $2
	ORDER BY refresh_at, id LIMIT $3`

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
