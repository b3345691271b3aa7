package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

// CreateConnectLink stores l with revision 1.
func (s *Store) CreateConnectLink(ctx context.Context, l store.ConnectLink) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO connect_links (`+store.ConnectLinkColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 1)`,
			l.ID, l.WorkspaceID, store.NullString(l.IntegrationID), store.ProvidersColumn(l.Providers), l.Name, l.Hash,
			l.ReturnURL, l.CreatedBy, dbTime(l.CreatedAt), dbTime(l.ExpiresAt), dbTime(l.UsedAt), dbTime(l.DeletedAt),
			dbTime(l.LockedAt), l.Failures, dbTime(l.ClaimedUntil), l.LastError)
		if err != nil {
			return dbErr(err)
		}
		// SKIP LOCKED: two instances creating links at once forget
		// different old ones instead of waiting on each other.
		_, err = tx.Exec(ctx, `DELETE FROM connect_links WHERE id IN
			(SELECT id FROM connect_links WHERE expires_at < $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
			dbTime(l.CreatedAt.Add(-store.ConnectLinkForgetAfter)), store.ConnectLinkPurgeBatch)
		return dbErr(err)
	})
	if err != nil {
		// Never echo the hash: it identifies a live link.
		return fmt.Errorf("create connect link %s: %w", l.ID, err)
	}
	return nil
}

func getConnectLink(ctx context.Context, q querier, where, lock string, arg any) (store.ConnectLink, error) {
	return scan.ConnectLink(q.QueryRow(ctx, `SELECT `+store.ConnectLinkColumns+` FROM connect_links WHERE `+where+` = $1`+lock, arg))
}

// GetConnectLink finds a link by id.
func (s *Store) GetConnectLink(ctx context.Context, id string) (store.ConnectLink, error) {
	l, err := getConnectLink(ctx, s.pool, "id", "", id)
	if err != nil {
		return store.ConnectLink{}, fmt.Errorf("get connect link %s: %w", id, dbErr(err))
	}
	return l, nil
}

// GetConnectLinkByHash finds a link by the hash of its secret.
func (s *Store) GetConnectLinkByHash(ctx context.Context, hash []byte) (store.ConnectLink, error) {
	l, err := getConnectLink(ctx, s.pool, "hash", "", hash)
	if err != nil {
		return store.ConnectLink{}, fmt.Errorf("get connect link by hash: %w", dbErr(err))
	}
	return l, nil
}

// ListConnectLinks returns page p of the links not deleted, in id order.
func (s *Store) ListConnectLinks(ctx context.Context, p store.ConnectLinkPage) ([]store.ConnectLink, error) {
	q, args := sqldb.PageConnectLinksSQL, []any{p.WorkspaceID, p.After, store.ConnectLinkPageLimit(p)}
	if p.IntegrationID != "" {
		q, args = sqldb.PageIntegrationConnectLinksSQL, append([]any{p.IntegrationID}, args...)
	}
	ls, err := queryAll(ctx, s, scan.ConnectLink, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list connect links: %w", err)
	}
	return ls, nil
}

// UpdateConnectLink applies fn to the link locked FOR UPDATE: concurrent
// updates of one link wait for each other, and the revision check makes
// the write a compare-and-swap all the same.
func (s *Store) UpdateConnectLink(ctx context.Context, id string, fn func(store.ConnectLink) (store.ConnectLink, error)) (store.ConnectLink, error) {
	var out store.ConnectLink
	var fnErr error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		old, err := getConnectLink(ctx, tx, "id", " FOR UPDATE", id)
		if err != nil {
			return dbErr(err)
		}
		l, err := fn(old)
		if err != nil {
			fnErr = err
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE connect_links SET integration_id = $1, providers = $2, name = $3,
				return_url = $4, expires_at = $5, used_at = $6, deleted_at = $7, locked_at = $8, failures = $9,
				claimed_until = $10, last_error = $11, revision = revision + 1
			WHERE id = $12 AND revision = $13`,
			store.NullString(l.IntegrationID), store.ProvidersColumn(l.Providers), l.Name, l.ReturnURL, dbTime(l.ExpiresAt),
			dbTime(l.UsedAt), dbTime(l.DeletedAt), dbTime(l.LockedAt), l.Failures, dbTime(l.ClaimedUntil), l.LastError,
			id, old.Revision)
		if err != nil {
			return dbErr(err)
		}
		if err := affected(tag, store.ErrConflict); err != nil {
			return err
		}
		out, err = getConnectLink(ctx, tx, "id", "", id)
		return dbErr(err)
	})
	if fnErr != nil {
		return store.ConnectLink{}, fnErr
	}
	if err != nil {
		return store.ConnectLink{}, fmt.Errorf("update connect link %s: %w", id, err)
	}
	return out, nil
}
