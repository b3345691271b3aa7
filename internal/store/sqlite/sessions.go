package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

// ListAPITokens returns page p of the tokens, ordered by id.
func (s *Store) ListAPITokens(ctx context.Context, p store.TokenPage) ([]store.APIToken, error) {
	q, args := sqldb.PageTokensSQL, []any{p.After, store.TokenPageLimit(p)}
	if p.WorkspaceID != "" {
		q, args = sqldb.PageWorkspaceTokensSQL, append([]any{p.WorkspaceID}, args...)
	}
	ts, err := queryAll(ctx, s, scan.APIToken, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	return ts, nil
}

// TouchAPIToken sets a token's LastUsedAt.
func (s *Store) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	err := s.write(ctx, func(tx *prepTx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, dbTime(at), id)
		if err != nil {
			return err
		}
		return affected(res, store.ErrNotFound)
	})
	if err != nil {
		return fmt.Errorf("touch api token %s: %w", id, err)
	}
	return nil
}

// CreateUISession stores u, purging sessions that expired before it was
// created.
func (s *Store) CreateUISession(ctx context.Context, u store.UISession) error {
	err := s.write(ctx, func(tx *prepTx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM ui_sessions WHERE expires_at < ?`, dbTime(u.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO ui_sessions (`+store.UISessionColumns+`) VALUES (?, ?, ?, ?)`,
			u.ID, u.TokenID, dbTime(u.CreatedAt), dbTime(u.ExpiresAt))
		return dbErr(err)
	})
	if err != nil {
		// The id is a bearer secret of sorts: name the token instead.
		return fmt.Errorf("create ui session for token %s: %w", u.TokenID, err)
	}
	return nil
}

// GetUISession finds a session by id.
func (s *Store) GetUISession(ctx context.Context, id string) (store.UISession, error) {
	u, err := scan.UISession(s.ro.QueryRowContext(ctx, `SELECT `+store.UISessionColumns+` FROM ui_sessions WHERE id = ?`, id))
	if err != nil {
		return store.UISession{}, fmt.Errorf("get ui session: %w", dbErr(err))
	}
	return u, nil
}

// DeleteUISession removes a session.
func (s *Store) DeleteUISession(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *prepTx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM ui_sessions WHERE id = ?`, id)
		if err != nil {
			return err
		}
		return affected(res, store.ErrNotFound)
	})
	if err != nil {
		return fmt.Errorf("delete ui session: %w", err)
	}
	return nil
}
