package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/stormcreds/storm/internal/store"
)

// defaultLimit is the page size when Page.Limit is not positive.
const defaultLimit = 100

func appendEvent(ctx context.Context, tx *sql.Tx, e store.Event) (store.Event, error) {
	if e.ID == "" {
		e.ID = store.NewID("evt")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO events (id, workspace_id, integration_id, type, at, data)
		VALUES (?, ?, ?, ?, ?, ?)`,
		e.ID, e.WorkspaceID, e.IntegrationID, e.Type, dbTime(e.At), e.Data)
	if err != nil {
		return store.Event{}, fmt.Errorf("append event %s: %w", e.ID, dbErr(err))
	}
	return e, nil
}

// AppendEvent appends e to the event log, giving it an id when it has none.
func (s *Store) AppendEvent(ctx context.Context, e store.Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := appendEvent(ctx, tx, e)
		return err
	})
}

// ListEvents returns a page of the event log, oldest first.
func (s *Store) ListEvents(ctx context.Context, p store.Page) ([]store.Event, error) {
	where, args, err := s.pageFilter(ctx, "events", p, true)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	rows, err := s.ro.QueryContext(ctx, `SELECT id, workspace_id, integration_id, type, at, data FROM events`+
		where+` ORDER BY seq LIMIT ?`, append(args, limit(p))...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	es, err := collect(rows, func(r rowScanner) (store.Event, error) {
		var e store.Event
		err := r.Scan(&e.ID, &e.WorkspaceID, &e.IntegrationID, &e.Type, scanTime{&e.At}, &e.Data)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return es, nil
}

// AppendAudit appends a to the audit log, giving it an id when it has none.
func (s *Store) AppendAudit(ctx context.Context, a store.AuditRecord) error {
	if a.ID == "" {
		a.ID = store.NewID("aud")
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit (id, workspace_id, actor, action, target, at, ip, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.WorkspaceID, a.Actor, a.Action, a.Target, dbTime(a.At), a.IP, a.Detail)
		return dbErr(err)
	})
	if err != nil {
		return fmt.Errorf("append audit %s: %w", a.ID, err)
	}
	return nil
}

// ListAudit returns a page of the audit log, oldest first. Page's
// IntegrationID does not apply.
func (s *Store) ListAudit(ctx context.Context, p store.Page) ([]store.AuditRecord, error) {
	where, args, err := s.pageFilter(ctx, "audit", p, false)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	rows, err := s.ro.QueryContext(ctx, `SELECT id, workspace_id, actor, action, target, at, ip, detail FROM audit`+
		where+` ORDER BY seq LIMIT ?`, append(args, limit(p))...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	as, err := collect(rows, func(r rowScanner) (store.AuditRecord, error) {
		var a store.AuditRecord
		err := r.Scan(&a.ID, &a.WorkspaceID, &a.Actor, &a.Action, &a.Target, scanTime{&a.At}, &a.IP, &a.Detail)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return as, nil
}

func limit(p store.Page) int {
	if p.Limit <= 0 {
		return defaultLimit
	}
	return p.Limit
}

// pageFilter builds the WHERE clause for p over table. The After entry is
// looked up first so that an unknown id is ErrNotFound rather than an
// empty page.
func (s *Store) pageFilter(ctx context.Context, table string, p store.Page, byIntegration bool) (string, []any, error) {
	var conds []string
	var args []any
	if p.After != "" {
		var seq int64
		err := s.ro.QueryRowContext(ctx, `SELECT seq FROM `+table+` WHERE id = ?`, p.After).Scan(&seq)
		if err != nil {
			return "", nil, fmt.Errorf("after %s: %w", p.After, dbErr(err))
		}
		conds, args = append(conds, "seq > ?"), append(args, seq)
	}
	if p.WorkspaceID != "" {
		conds, args = append(conds, "workspace_id = ?"), append(args, p.WorkspaceID)
	}
	if byIntegration && p.IntegrationID != "" {
		conds, args = append(conds, "integration_id = ?"), append(args, p.IntegrationID)
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// Keyring returns the wrapped vault keyring, or ErrNotFound.
func (s *Store) Keyring(ctx context.Context) ([]byte, error) {
	var data []byte
	if err := s.ro.QueryRowContext(ctx, `SELECT data FROM keyring WHERE id = 1`).Scan(&data); err != nil {
		return nil, fmt.Errorf("get keyring: %w", dbErr(err))
	}
	return data, nil
}

// PutKeyring stores next if the current keyring is prev (nil or empty: no
// keyring yet), else returns ErrConflict.
func (s *Store) PutKeyring(ctx context.Context, prev, next []byte) error {
	if len(next) == 0 {
		return errors.New("put keyring: empty keyring")
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		if len(prev) == 0 {
			res, err = tx.ExecContext(ctx, `INSERT INTO keyring (id, data) VALUES (1, ?) ON CONFLICT (id) DO NOTHING`, next)
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE keyring SET data = ? WHERE id = 1 AND data = ?`, next, prev)
		}
		if err != nil {
			return err
		}
		return affected(res, store.ErrConflict)
	})
	if err != nil {
		return fmt.Errorf("put keyring: %w", err)
	}
	return nil
}
