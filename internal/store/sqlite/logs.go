package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stormcreds/storm/internal/audit"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

// AppendEvents implements store.Tx. The immediate transaction holds the
// database's write lock, so events commit in seq order.
func (t txn) AppendEvents(ctx context.Context, es []store.Event) ([]store.Event, error) {
	return t.InsertEvents(ctx, es)
}

// AppendAudit appends recs to the audit log in order, in one
// transaction (appendAudit).
func (s *Store) AppendAudit(ctx context.Context, recs ...store.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	stmts, err := s.auditStatements(ctx)
	if err == nil {
		err = s.write(ctx, func(tx *sql.Tx) error { return stmts.append(ctx, tx, recs) })
	}
	if err != nil {
		return fmt.Errorf("append %d audit records from %s: %w", len(recs), recs[0].ID, err)
	}
	return nil
}

// FoldAudit implements store.Store: the records of a journal segment
// not folded before, appended in the same transaction that marks it.
func (s *Store) FoldAudit(ctx context.Context, f store.AuditFold) (bool, error) {
	var folded bool
	stmts, err := s.auditStatements(ctx)
	if err != nil {
		return false, fmt.Errorf("fold audit segment %s: %w", f.Segment, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		for _, seg := range f.Forget {
			if _, err := tx.ExecContext(ctx, `DELETE FROM audit_folds WHERE segment = ?`, seg); err != nil {
				return err
			}
		}
		if f.Segment == "" {
			return nil
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO audit_folds (segment, folded_at) VALUES (?, ?) ON CONFLICT (segment) DO NOTHING`,
			f.Segment, dbTime(time.Now()))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // folded before: nothing to append
		}
		folded = true
		return stmts.append(ctx, tx, f.Records)
	})
	if err != nil {
		return false, fmt.Errorf("fold audit segment %s (%d records): %w", f.Segment, len(f.Records), dbErr(err))
	}
	return folded, nil
}

// auditStmts are the audit append's statements, prepared once on the
// writer connection.
type auditStmts struct {
	mu           sync.Mutex
	head, insert *sql.Stmt
}

// append gives recs ids where they have none and their places in the
// hash chain, and inserts them in tx. The immediate transaction holds
// the database's write lock from reading the chain's head to commit, so
// appends from any goroutine or process extend one chain.
func (a *auditStmts) append(ctx context.Context, tx *sql.Tx, recs []store.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	for i := range recs {
		if recs[i].ID == "" {
			recs[i].ID = store.NewID("aud")
		}
	}
	head, err := auditHeadFrom(tx.StmtContext(ctx, a.head).QueryRowContext(ctx))
	if err != nil {
		return err
	}
	audit.Link(head, recs)
	insert := tx.StmtContext(ctx, a.insert)
	for _, r := range recs {
		_, err := insert.ExecContext(ctx, r.ID, r.WorkspaceID, r.Actor, r.Action, r.Target, dbTime(r.At), r.IP, r.Detail, r.Seq, r.PrevHash, r.Hash)
		if err != nil {
			return dbErr(err)
		}
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
// the next append tries again). Not inside a transaction: that holds
// the only writer connection.
func (s *Store) auditStatements(ctx context.Context) (*auditStmts, error) {
	a := &s.auditStmts
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.insert != nil {
		return a, nil
	}
	var err error
	if a.head == nil {
		if a.head, err = s.rw.PrepareContext(ctx, auditHeadSQL); err != nil {
			return nil, err
		}
	}
	if a.insert, err = s.rw.PrepareContext(ctx, auditInsertSQL); err != nil {
		return nil, err
	}
	return a, nil
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
		var seqs []int64
		recs, err := sqldb.QueryAll(ctx, conn{tx}, func(r store.Row) (store.AuditRecord, error) {
			var seq int64
			a, err := scan.Audit(store.Leading{Row: r, First: &seq})
			seqs = append(seqs, seq)
			return a, err
		}, `SELECT seq, `+store.AuditColumns+` FROM audit WHERE hash = '' ORDER BY seq LIMIT 500`)
		if err != nil {
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
