package sqldb

import (
	"context"
	"fmt"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// ListAPITokens returns page p of the tokens, ordered by id.
func (q *Queries) ListAPITokens(ctx context.Context, p store.TokenPage) ([]store.APIToken, error) {
	ts, err := pageByWorkspace(ctx, q, q.d.Scan.APIToken, PageTokensSQL, PageWorkspaceTokensSQL,
		p.WorkspaceID, p.After, store.TokenPageLimit(p))
	if err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	return ts, nil
}

// TouchAPIToken sets a token's LastUsedAt.
func (q *Queries) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	n, err := q.exec(ctx, `UPDATE api_tokens SET last_used_at = $1 WHERE id = $2`, q.d.Time(at), id)
	if err := affected(n, err, store.ErrNotFound); err != nil {
		return fmt.Errorf("touch api token %s: %w", id, err)
	}
	return nil
}

// CreateUISession stores u, purging sessions that expired before it was
// created.
func (q *Queries) CreateUISession(ctx context.Context, u store.UISession) error {
	err := q.write(ctx, func(c Conn) error {
		if _, err := c.Exec(ctx, `DELETE FROM ui_sessions WHERE expires_at < $1`, q.d.Time(u.CreatedAt)); err != nil {
			return err
		}
		_, err := c.Exec(ctx, `INSERT INTO ui_sessions (`+store.UISessionColumns+`) VALUES ($1, $2, $3, $4)`,
			u.ID, u.TokenID, q.d.Time(u.CreatedAt), q.d.Time(u.ExpiresAt))
		return q.d.Err(err)
	})
	if err != nil {
		// The id is a bearer secret of sorts: name the token instead.
		return fmt.Errorf("create ui session for token %s: %w", u.TokenID, err)
	}
	return nil
}

// GetUISession finds a session by id.
func (q *Queries) GetUISession(ctx context.Context, id string) (store.UISession, error) {
	u, err := q.d.Scan.UISession(q.read.QueryRow(ctx, `SELECT `+store.UISessionColumns+` FROM ui_sessions WHERE id = $1`, id))
	if err != nil {
		return store.UISession{}, fmt.Errorf("get ui session: %w", q.d.Err(err))
	}
	return u, nil
}

// DeleteUISession removes a session.
func (q *Queries) DeleteUISession(ctx context.Context, id string) error {
	n, err := q.exec(ctx, `DELETE FROM ui_sessions WHERE id = $1`, id)
	if err := affected(n, err, store.ErrNotFound); err != nil {
		return fmt.Errorf("delete ui session: %w", err)
	}
	return nil
}
