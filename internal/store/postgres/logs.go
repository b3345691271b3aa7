package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/stormcreds/storm/internal/audit"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

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

// AppendEvents implements store.Tx. It takes the events lock first when
// there is something to append.
func (t txn) AppendEvents(ctx context.Context, es []store.Event) ([]store.Event, error) {
	if len(es) > 0 {
		if err := lockLog(ctx, t.tx, eventsLockKey); err != nil {
			return nil, err
		}
	}
	return t.InsertEvents(ctx, es)
}

// AppendAudit appends recs to the audit log in order, in one
// transaction (appendAudit).
func (s *Store) AppendAudit(ctx context.Context, recs ...store.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error { return appendAudit(ctx, tx, recs) })
	if err != nil {
		return fmt.Errorf("append %d audit records from %s: %w", len(recs), recs[0].ID, err)
	}
	return nil
}

// FoldAudit implements store.Store: the records of a journal segment
// not folded before, appended in the same transaction that marks it.
func (s *Store) FoldAudit(ctx context.Context, f store.AuditFold) (bool, error) {
	var folded bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if len(f.Forget) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM audit_folds WHERE segment = ANY($1)`, f.Forget); err != nil {
				return err
			}
		}
		if f.Segment == "" {
			return nil
		}
		tag, err := tx.Exec(ctx, `INSERT INTO audit_folds (segment, folded_at) VALUES ($1, now()) ON CONFLICT (segment) DO NOTHING`, f.Segment)
		if err != nil || tag.RowsAffected() == 0 {
			return err // folded before: nothing to append
		}
		folded = true
		return appendAudit(ctx, tx, f.Records)
	})
	if err != nil {
		return false, fmt.Errorf("fold audit segment %s (%d records): %w", f.Segment, len(f.Records), dbErr(err))
	}
	return folded, nil
}

// appendAudit gives recs ids where they have none and their places in
// the hash chain, and inserts them in tx. The audit lock is held from
// reading the chain's head to commit, so appends from every instance
// extend one chain.
func appendAudit(ctx context.Context, tx pgx.Tx, recs []store.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	for i := range recs {
		if recs[i].ID == "" {
			recs[i].ID = store.NewID("aud")
		}
	}
	if err := lockLog(ctx, tx, auditLockKey); err != nil {
		return err
	}
	head, err := auditHead(ctx, tx)
	if err != nil {
		return err
	}
	audit.Link(head, recs)
	for _, a := range recs {
		_, err := tx.Exec(ctx, `INSERT INTO audit (id, workspace_id, actor, action, target, at, ip, detail, chain_seq, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			a.ID, a.WorkspaceID, a.Actor, a.Action, a.Target, dbTime(a.At), a.IP, a.Detail, a.Seq, a.PrevHash, a.Hash)
		if err != nil {
			return dbErr(err)
		}
	}
	return nil
}

// auditHead reads the last chained entry's place; an empty log is the
// zero Head. The caller holds the audit lock.
func auditHead(ctx context.Context, tx pgx.Tx) (audit.Head, error) {
	var h audit.Head
	err := tx.QueryRow(ctx, `SELECT chain_seq, hash FROM audit WHERE hash <> '' ORDER BY chain_seq DESC LIMIT 1`).Scan(&h.Seq, &h.Hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return audit.Head{}, nil
	}
	if err != nil {
		return h, fmt.Errorf("audit chain head: %w", err)
	}
	return h, nil
}

// chainExisting chains the entries written before migration
// 0011_audit_chain, in log order, a page at a time. It runs in that
// migration's transaction under the migration lock, so it happens once
// however many instances start together, and it takes the audit lock so
// that an older instance still appending waits for it (and then fails the
// audit_chained check rather than leaving a hole).
func chainExisting(ctx context.Context, tx pgx.Tx) error {
	if err := lockLog(ctx, tx, auditLockKey); err != nil {
		return err
	}
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
			if _, err := tx.Exec(ctx, `UPDATE audit SET chain_seq = $1, prev_hash = $2, hash = $3 WHERE seq = $4`,
				a.Seq, a.PrevHash, a.Hash, seqs[i]); err != nil {
				return fmt.Errorf("chain existing audit: %w", err)
			}
		}
	}
}
