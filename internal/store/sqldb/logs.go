package sqldb

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/stormcreds/storm/internal/store"
)

// The appends to the event and audit logs stay in each backend: they
// serialise on different locks (SQLite's write lock, PostgreSQL's
// advisory locks) and SQLite's audit append prepares its own statements.
// The event insert is shared (InsertEvents).

// InsertEvents inserts es in order, giving each an id when it has none,
// and returns them as stored. It takes no lock: a backend's AppendEvents
// makes events commit in seq order first.
func (t Tx) InsertEvents(ctx context.Context, es []store.Event) ([]store.Event, error) {
	for i := range es {
		e := &es[i]
		if e.ID == "" {
			e.ID = store.NewID("evt")
		}
		_, err := t.conn.Exec(ctx, `INSERT INTO events (id, workspace_id, integration_id, type, at, data)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			e.ID, e.WorkspaceID, e.IntegrationID, e.Type, t.q.d.Time(e.At), e.Data)
		if err != nil {
			return nil, fmt.Errorf("append event %s: %w", e.ID, t.q.d.Err(err))
		}
	}
	return es, nil
}

// ListEvents returns a page of the event log, oldest first.
func (q *Queries) ListEvents(ctx context.Context, p store.Page) ([]store.Event, error) {
	es, err := listLog(ctx, q, "events", store.EventColumns, p, q.d.Scan.Event)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return es, nil
}

// ListAudit returns a page of the audit log, oldest first. Page's
// IntegrationID does not apply.
func (q *Queries) ListAudit(ctx context.Context, p store.Page) ([]store.AuditRecord, error) {
	p.IntegrationID = ""
	as, err := listLog(ctx, q, "audit", store.AuditColumns, p, q.d.Scan.Audit)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return as, nil
}

// listLog reads page p of a log table, looking up the After entry first
// (see store.PageClause).
func listLog[T any](ctx context.Context, q *Queries, table, columns string, p store.Page, scan func(store.Row) (T, error)) ([]T, error) {
	var seq int64
	if p.After != "" {
		if err := q.read.QueryRow(ctx, `SELECT seq FROM `+table+` WHERE id = $1`, p.After).Scan(&seq); err != nil {
			return nil, fmt.Errorf("after %s: %w", p.After, q.d.Err(err))
		}
	}
	clause, args := store.PageClause(p, seq, func(n int) string { return "$" + strconv.Itoa(n) })
	return QueryAll(ctx, q.read, scan, `SELECT `+columns+` FROM `+table+clause, args...)
}

// Keyring returns the wrapped vault keyring, or ErrNotFound.
func (q *Queries) Keyring(ctx context.Context) ([]byte, error) {
	var data []byte
	if err := q.read.QueryRow(ctx, `SELECT data FROM keyring WHERE id = 1`).Scan(&data); err != nil {
		return nil, fmt.Errorf("get keyring: %w", q.d.Err(err))
	}
	return data, nil
}

// PutKeyring stores next if the current keyring is prev (nil or empty: no
// keyring yet), else returns ErrConflict.
func (q *Queries) PutKeyring(ctx context.Context, prev, next []byte) error {
	if len(next) == 0 {
		return errors.New("put keyring: empty keyring")
	}
	var n int64
	var err error
	if len(prev) == 0 {
		n, err = q.exec(ctx, `INSERT INTO keyring (id, data) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, next)
	} else {
		// On PostgreSQL, under READ COMMITTED, a concurrent swap makes
		// this re-check the row it waited for, so only one of two racing
		// swaps succeeds; SQLite runs one write at a time.
		n, err = q.exec(ctx, `UPDATE keyring SET data = $1 WHERE id = 1 AND data = $2`, next, prev)
	}
	if err := affected(n, err, store.ErrConflict); err != nil {
		return fmt.Errorf("put keyring: %w", err)
	}
	return nil
}
