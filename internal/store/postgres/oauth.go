package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

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
