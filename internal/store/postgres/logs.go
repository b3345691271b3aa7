package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stormcreds/storm/internal/store"
)

// defaultLimit is the page size when Page.Limit is not positive.
const defaultLimit = 100

// lockLog takes a log's append lock until the transaction ends. Identity
// values are handed out at insert but become visible at commit, so two
// concurrent appends could commit out of order and a reader paging with
// After could skip the one that commits late. Holding the lock from insert
// to commit makes seq order and commit order agree.
func lockLog(ctx context.Context, tx pgx.Tx, key int64) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, key); err != nil {
		return fmt.Errorf("lock log: %w", err)
	}
	return nil
}

// insertEvent inserts e, giving it an id when it has none. The caller
// holds the events lock.
func insertEvent(ctx context.Context, tx pgx.Tx, e store.Event) (store.Event, error) {
	if e.ID == "" {
		e.ID = store.NewID("evt")
	}
	_, err := tx.Exec(ctx, `INSERT INTO events (id, workspace_id, integration_id, type, at, data)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		e.ID, e.WorkspaceID, e.IntegrationID, e.Type, dbTime(e.At), e.Data)
	if err != nil {
		return store.Event{}, fmt.Errorf("append event %s: %w", e.ID, dbErr(err))
	}
	return e, nil
}

// AppendEvent appends e to the event log, giving it an id when it has none.
func (s *Store) AppendEvent(ctx context.Context, e store.Event) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockLog(ctx, tx, eventsLockKey); err != nil {
			return err
		}
		_, err := insertEvent(ctx, tx, e)
		return err
	})
}

// ListEvents returns a page of the event log, oldest first.
func (s *Store) ListEvents(ctx context.Context, p store.Page) ([]store.Event, error) {
	where, args, err := s.pageFilter(ctx, "events", p, true)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	args = append(args, limit(p))
	rows, err := s.pool.Query(ctx, `SELECT id, workspace_id, integration_id, type, at, data FROM events`+
		where+` ORDER BY seq LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	es, err := collect(rows, func(r pgx.Row) (store.Event, error) {
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
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockLog(ctx, tx, auditLockKey); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO audit (id, workspace_id, actor, action, target, at, ip, detail)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
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
	args = append(args, limit(p))
	rows, err := s.pool.Query(ctx, `SELECT id, workspace_id, actor, action, target, at, ip, detail FROM audit`+
		where+` ORDER BY seq LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	as, err := collect(rows, func(r pgx.Row) (store.AuditRecord, error) {
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

// pageFilter builds the WHERE clause for p over table, with arguments
// numbered from $1. The After entry is looked up first so that an unknown
// id is ErrNotFound rather than an empty page.
func (s *Store) pageFilter(ctx context.Context, table string, p store.Page, byIntegration bool) (string, []any, error) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, cond+" $"+strconv.Itoa(len(args)))
	}
	if p.After != "" {
		var seq int64
		err := s.pool.QueryRow(ctx, `SELECT seq FROM `+table+` WHERE id = $1`, p.After).Scan(&seq)
		if err != nil {
			return "", nil, fmt.Errorf("after %s: %w", p.After, dbErr(err))
		}
		add("seq >", seq)
	}
	if p.WorkspaceID != "" {
		add("workspace_id =", p.WorkspaceID)
	}
	if byIntegration && p.IntegrationID != "" {
		add("integration_id =", p.IntegrationID)
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// Keyring returns the wrapped vault keyring, or ErrNotFound.
func (s *Store) Keyring(ctx context.Context) ([]byte, error) {
	var data []byte
	if err := s.pool.QueryRow(ctx, `SELECT data FROM keyring WHERE id = 1`).Scan(&data); err != nil {
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
	var tag pgconn.CommandTag
	var err error
	if len(prev) == 0 {
		tag, err = s.pool.Exec(ctx, `INSERT INTO keyring (id, data) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, next)
	} else {
		// Under READ COMMITTED a concurrent swap makes this re-check the
		// row it waited for, so only one of two racing swaps succeeds.
		tag, err = s.pool.Exec(ctx, `UPDATE keyring SET data = $1 WHERE id = 1 AND data = $2`, next, prev)
	}
	if err == nil {
		err = affected(tag, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("put keyring: %w", err)
	}
	return nil
}
