package sqldb

import (
	"context"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
)

// CreateConnectLink stores l with revision 1, and forgets a batch of links
// expired long ago.
func (q *Queries) CreateConnectLink(ctx context.Context, l store.ConnectLink) error {
	tm := q.d.Time
	err := q.write(ctx, func(c Conn) error {
		_, err := c.Exec(ctx, `INSERT INTO connect_links (`+store.ConnectLinkColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 1)`,
			l.ID, l.WorkspaceID, store.NullString(l.IntegrationID), store.ProvidersColumn(l.Providers), l.Name, l.Hash,
			l.ReturnURL, l.CreatedBy, tm(l.CreatedAt), tm(l.ExpiresAt), tm(l.UsedAt), tm(l.DeletedAt),
			tm(l.LockedAt), l.Failures, tm(l.ClaimedUntil), l.LastError)
		if err != nil {
			return q.d.Err(err)
		}
		// SkipLocked: two instances creating links at once forget
		// different old ones instead of waiting on each other.
		_, err = c.Exec(ctx, `DELETE FROM connect_links WHERE id IN
			(SELECT id FROM connect_links WHERE expires_at < $1 ORDER BY expires_at LIMIT $2`+q.d.SkipLocked+`)`,
			tm(l.CreatedAt.Add(-store.ConnectLinkForgetAfter)), store.ConnectLinkPurgeBatch)
		return q.d.Err(err)
	})
	if err != nil {
		// Never echo the hash: it identifies a live link.
		return fmt.Errorf("create connect link %s: %w", l.ID, err)
	}
	return nil
}

// getConnectLink reads the link whose column where is arg; lock is
// appended to the query (ForUpdate or nothing).
func (q *Queries) getConnectLink(ctx context.Context, c Conn, where, lock string, arg any) (store.ConnectLink, error) {
	return q.d.Scan.ConnectLink(c.QueryRow(ctx, `SELECT `+store.ConnectLinkColumns+` FROM connect_links WHERE `+where+` = $1`+lock, arg))
}

// GetConnectLink finds a link by id.
func (q *Queries) GetConnectLink(ctx context.Context, id string) (store.ConnectLink, error) {
	l, err := q.getConnectLink(ctx, q.read, "id", "", id)
	if err != nil {
		return store.ConnectLink{}, fmt.Errorf("get connect link %s: %w", id, q.d.Err(err))
	}
	return l, nil
}

// GetConnectLinkByHash finds a link by the hash of its secret.
func (q *Queries) GetConnectLinkByHash(ctx context.Context, hash []byte) (store.ConnectLink, error) {
	l, err := q.getConnectLink(ctx, q.read, "hash", "", hash)
	if err != nil {
		return store.ConnectLink{}, fmt.Errorf("get connect link by hash: %w", q.d.Err(err))
	}
	return l, nil
}

// ListConnectLinks returns page p of the links not deleted, in id order.
func (q *Queries) ListConnectLinks(ctx context.Context, p store.ConnectLinkPage) ([]store.ConnectLink, error) {
	text, args := PageConnectLinksSQL, []any{p.WorkspaceID, p.After, store.ConnectLinkPageLimit(p)}
	if p.IntegrationID != "" {
		text, args = PageIntegrationConnectLinksSQL, append([]any{p.IntegrationID}, args...)
	}
	ls, err := QueryAll(ctx, q.read, q.d.Scan.ConnectLink, text, args...)
	if err != nil {
		return nil, fmt.Errorf("list connect links: %w", err)
	}
	return ls, nil
}

// UpdateConnectLink applies fn to the link, read with the dialect's row
// lock (FOR UPDATE on PostgreSQL; SQLite's write transaction holds the
// database's write lock already): concurrent updates of one link wait for
// each other, and the revision check makes the write a compare-and-swap
// all the same.
func (q *Queries) UpdateConnectLink(ctx context.Context, id string, fn func(store.ConnectLink) (store.ConnectLink, error)) (store.ConnectLink, error) {
	tm := q.d.Time
	var out store.ConnectLink
	var fnErr error
	err := q.write(ctx, func(c Conn) error {
		old, err := q.getConnectLink(ctx, c, "id", q.d.ForUpdate, id)
		if err != nil {
			return q.d.Err(err)
		}
		l, err := fn(old)
		if err != nil {
			fnErr = err
			return err
		}
		n, err := c.Exec(ctx, `UPDATE connect_links SET integration_id = $1, providers = $2, name = $3,
				return_url = $4, expires_at = $5, used_at = $6, deleted_at = $7, locked_at = $8, failures = $9,
				claimed_until = $10, last_error = $11, revision = revision + 1
			WHERE id = $12 AND revision = $13`,
			store.NullString(l.IntegrationID), store.ProvidersColumn(l.Providers), l.Name, l.ReturnURL, tm(l.ExpiresAt),
			tm(l.UsedAt), tm(l.DeletedAt), tm(l.LockedAt), l.Failures, tm(l.ClaimedUntil), l.LastError,
			id, old.Revision)
		if err != nil {
			return q.d.Err(err)
		}
		if err := affected(n, nil, store.ErrConflict); err != nil {
			return err
		}
		out, err = q.getConnectLink(ctx, c, "id", "", id)
		return q.d.Err(err)
	})
	if fnErr != nil {
		return store.ConnectLink{}, fnErr
	}
	if err != nil {
		return store.ConnectLink{}, fmt.Errorf("update connect link %s: %w", id, err)
	}
	return out, nil
}
