package sqldb

import (
	"context"
	"fmt"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// CreateOAuthState stores a pending authorization; a taken hash is
// ErrConflict.
func (q *Queries) CreateOAuthState(ctx context.Context, st store.OAuthState) error {
	_, err := q.exec(ctx, `INSERT INTO oauth_states (`+store.OAuthStateColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		st.Hash, st.IntegrationID, st.WorkspaceID, st.Verifier, st.ReturnTo, st.Binding, st.Actor,
		q.d.Time(st.CreatedAt), q.d.Time(st.ExpiresAt), st.LinkID, st.Pending)
	if err != nil {
		// Never echo the hash: it identifies a live authorization.
		return fmt.Errorf("create oauth state for %s: %w", st.IntegrationID, q.d.Err(err))
	}
	return nil
}

// AcquireLease takes the named lease for owner until the given time if it
// is free, expired at now, or owner's already; it reports whether owner
// holds it afterwards. The upsert is one statement, in a transaction of
// its own: concurrent callers queue on the row (PostgreSQL) or the
// database's write lock (SQLite), and each sees the winner's row when its
// turn comes.
func (q *Queries) AcquireLease(ctx context.Context, name, owner string, until, now time.Time) (bool, error) {
	if until.IsZero() || now.IsZero() {
		return false, fmt.Errorf("acquire lease %s: zero time", name)
	}
	n, err := q.exec(ctx, `INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
		WHERE leases.expires_at <= $4 OR leases.owner = excluded.owner`,
		name, owner, q.d.Time(until), q.d.Time(now))
	if err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", name, q.d.Err(err))
	}
	return n > 0, nil
}

// ReleaseLease frees the named lease if owner holds it; otherwise it does
// nothing.
func (q *Queries) ReleaseLease(ctx context.Context, name, owner string) error {
	if _, err := q.exec(ctx, `DELETE FROM leases WHERE name = $1 AND owner = $2`, name, owner); err != nil {
		return fmt.Errorf("release lease %s: %w", name, q.d.Err(err))
	}
	return nil
}

// DueCredentialsSQL selects due credentials: the state (active), the
// bound and the limit.
const DueCredentialsSQL = `SELECT ` + store.CredentialColumns + ` FROM credentials
	WHERE state = $1 AND refresh_at IS NOT NULL AND refresh_at <= $2
	ORDER BY refresh_at, id LIMIT $3`

// ListDueCredentials returns active credentials whose RefreshAt is set
// and not after before, earliest first (ties by id), at most limit
// (store.DefaultPageLimit when not positive). It is one range scan of the
// credentials_due index.
func (q *Queries) ListDueCredentials(ctx context.Context, before time.Time, limit int) ([]store.Credential, error) {
	cs, err := QueryAll(ctx, q.read, q.d.Scan.Credential, DueCredentialsSQL, store.StateActive, q.d.Time(before), store.DueLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list due credentials: %w", err)
	}
	return cs, nil
}
