package sqlite

import (
	"context"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

// CreateConnectLink stores l with revision 1.
func (s *Store) CreateConnectLink(ctx context.Context, l store.ConnectLink) error {
	err := s.write(ctx, func(tx *prepTx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO connect_links (`+store.ConnectLinkColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
			l.ID, l.WorkspaceID, store.NullString(l.IntegrationID), store.ProvidersColumn(l.Providers), l.Name, l.Hash,
			l.ReturnURL, l.CreatedBy, dbTime(l.CreatedAt), dbTime(l.ExpiresAt), dbTime(l.UsedAt), dbTime(l.DeletedAt),
			dbTime(l.LockedAt), l.Failures, dbTime(l.ClaimedUntil), l.LastError)
		if err != nil {
			return dbErr(err)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM connect_links WHERE id IN
			(SELECT id FROM connect_links WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`,
			dbTime(l.CreatedAt.Add(-store.ConnectLinkForgetAfter)), store.ConnectLinkPurgeBatch)
		return dbErr(err)
	})
	if err != nil {
		// Never echo the hash: it identifies a live link.
		return fmt.Errorf("create connect link %s: %w", l.ID, err)
	}
	return nil
}

func getConnectLink(ctx context.Context, q querier, where string, arg any) (store.ConnectLink, error) {
	return scan.ConnectLink(q.QueryRowContext(ctx, `SELECT `+store.ConnectLinkColumns+` FROM connect_links WHERE `+where+` = ?`, arg))
}

// GetConnectLink finds a link by id.
func (s *Store) GetConnectLink(ctx context.Context, id string) (store.ConnectLink, error) {
	l, err := getConnectLink(ctx, s.ro, "id", id)
	if err != nil {
		return store.ConnectLink{}, fmt.Errorf("get connect link %s: %w", id, dbErr(err))
	}
	return l, nil
}

// GetConnectLinkByHash finds a link by the hash of its secret.
func (s *Store) GetConnectLinkByHash(ctx context.Context, hash []byte) (store.ConnectLink, error) {
	l, err := getConnectLink(ctx, s.ro, "hash", hash)
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

// UpdateConnectLink applies fn in an immediate transaction, which holds
// the database's write lock: updates are serialised across every process
// sharing the file.
func (s *Store) UpdateConnectLink(ctx context.Context, id string, fn func(store.ConnectLink) (store.ConnectLink, error)) (store.ConnectLink, error) {
	var out store.ConnectLink
	var fnErr error
	err := s.write(ctx, func(tx *prepTx) error {
		old, err := getConnectLink(ctx, tx, "id", id)
		if err != nil {
			return dbErr(err)
		}
		l, err := fn(old)
		if err != nil {
			fnErr = err
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE connect_links SET integration_id = ?, providers = ?, name = ?,
				return_url = ?, expires_at = ?, used_at = ?, deleted_at = ?, locked_at = ?, failures = ?,
				claimed_until = ?, last_error = ?, revision = revision + 1
			WHERE id = ? AND revision = ?`,
			store.NullString(l.IntegrationID), store.ProvidersColumn(l.Providers), l.Name, l.ReturnURL, dbTime(l.ExpiresAt),
			dbTime(l.UsedAt), dbTime(l.DeletedAt), dbTime(l.LockedAt), l.Failures, dbTime(l.ClaimedUntil), l.LastError,
			id, old.Revision)
		if err != nil {
			return dbErr(err)
		}
		if err := affected(res, store.ErrConflict); err != nil {
			return err
		}
		out, err = getConnectLink(ctx, tx, "id", id)
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
