package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/stormcreds/storm/internal/audit"
	"github.com/stormcreds/storm/internal/store"
)

// AppendEvents implements store.Tx.
func (t txn) AppendEvents(ctx context.Context, es []store.Event) ([]store.Event, error) {
	for i := range es {
		e := &es[i]
		if e.ID == "" {
			e.ID = store.NewID("evt")
		}
		_, err := t.tx.ExecContext(ctx, `INSERT INTO events (id, workspace_id, integration_id, type, at, data)
			VALUES (?, ?, ?, ?, ?, ?)`,
			e.ID, e.WorkspaceID, e.IntegrationID, e.Type, dbTime(e.At), e.Data)
		if err != nil {
			return nil, fmt.Errorf("append event %s: %w", e.ID, dbErr(err))
		}
	}
	return es, nil
}

// AppendEvent appends e to the event log, giving it an id when it has none.
func (s *Store) AppendEvent(ctx context.Context, e store.Event) error {
	return s.writePrepared(ctx, func(tx *prepTx) error {
		_, err := s.txn(tx).AppendEvents(ctx, []store.Event{e})
		return err
	})
}

// AppendAudit appends recs to the audit log in order, in one
// transaction, giving each an id when it has none and its place in the
// hash chain. The immediate transaction holds the database's write lock
// from reading the chain's head to commit, so appends from any goroutine
// or process extend one chain.
func (s *Store) AppendAudit(ctx context.Context, recs ...store.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	for i := range recs {
		if recs[i].ID == "" {
			recs[i].ID = store.NewID("aud")
		}
	}
	headStmt, insertStmt, err := s.auditStatements(ctx)
	if err != nil {
		return fmt.Errorf("append %d audit records from %s: %w", len(recs), recs[0].ID, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		head, err := auditHeadFrom(tx.StmtContext(ctx, headStmt).QueryRowContext(ctx))
		if err != nil {
			return err
		}
		audit.Link(head, recs)
		insert := tx.StmtContext(ctx, insertStmt)
		for _, a := range recs {
			_, err := insert.ExecContext(ctx, a.ID, a.WorkspaceID, a.Actor, a.Action, a.Target, dbTime(a.At), a.IP, a.Detail, a.Seq, a.PrevHash, a.Hash)
			if err != nil {
				return dbErr(err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append %d audit records from %s: %w", len(recs), recs[0].ID, err)
	}
	return nil
}

const (
	auditHeadSQL   = `SELECT chain_seq, hash FROM audit WHERE hash <> '' ORDER BY chain_seq DESC LIMIT 1`
	auditInsertSQL = `INSERT INTO audit (id, workspace_id, actor, action, target, at, ip, detail, chain_seq, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// auditStatements prepares the append's statements on the writer
// connection the first time they are needed (a failure is not kept:
// the next append tries again).
func (s *Store) auditStatements(ctx context.Context) (head, insert *sql.Stmt, err error) {
	a := &s.auditStmts
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.insert != nil {
		return a.head, a.insert, nil
	}
	if a.head == nil {
		if a.head, err = s.rw.PrepareContext(ctx, auditHeadSQL); err != nil {
			return nil, nil, err
		}
	}
	if a.insert, err = s.rw.PrepareContext(ctx, auditInsertSQL); err != nil {
		return nil, nil, err
	}
	return a.head, a.insert, nil
}

// auditHead reads the last chained entry's place; an empty log is the
// zero Head.
func auditHead(ctx context.Context, tx *sql.Tx) (audit.Head, error) {
	return auditHeadFrom(tx.QueryRowContext(ctx, auditHeadSQL))
}

func auditHeadFrom(row *sql.Row) (audit.Head, error) {
	var h audit.Head
	err := row.Scan(&h.Seq, &h.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Head{}, nil
	}
	if err != nil {
		return h, fmt.Errorf("audit chain head: %w", err)
	}
	return h, nil
}

// chainExisting chains the entries written before migration
// 0011_audit_chain, in log order, a page at a time. It runs in that
// migration's transaction, so it happens once, before any append.
func chainExisting(ctx context.Context, tx *sql.Tx) error {
	head, err := auditHead(ctx, tx)
	if err != nil {
		return err
	}
	for {
		rows, err := tx.QueryContext(ctx, `SELECT seq, `+store.AuditColumns+` FROM audit WHERE hash = '' ORDER BY seq LIMIT 500`)
		if err != nil {
			return fmt.Errorf("chain existing audit: %w", err)
		}
		var seqs []int64
		var recs []store.AuditRecord
		for rows.Next() {
			var seq int64
			a, err := scan.Audit(store.Leading{Row: rows, First: &seq})
			if err != nil {
				rows.Close()
				return fmt.Errorf("chain existing audit: %w", err)
			}
			seqs, recs = append(seqs, seq), append(recs, a)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("chain existing audit: %w", err)
		}
		if len(recs) == 0 {
			return nil
		}
		head = audit.Link(head, recs)
		for i, a := range recs {
			if _, err := tx.ExecContext(ctx, `UPDATE audit SET chain_seq = ?, prev_hash = ?, hash = ? WHERE seq = ?`,
				a.Seq, a.PrevHash, a.Hash, seqs[i]); err != nil {
				return fmt.Errorf("chain existing audit: %w", err)
			}
		}
	}
}
