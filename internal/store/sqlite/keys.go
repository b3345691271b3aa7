package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
)

// PutJob stores j if the stored revision is j.Revision (0: none yet),
// else ErrConflict, and returns it as stored.
func (s *Store) PutJob(ctx context.Context, j store.Job) (store.Job, error) {
	var out store.Job
	err := s.writePrepared(ctx, func(tx *prepTx) error {
		var res sql.Result
		var err error
		if j.Revision == 0 {
			res, err = tx.ExecContext(ctx, `INSERT INTO jobs (`+store.JobColumns+`) VALUES (?, ?, ?, ?, ?, ?, 1)
				ON CONFLICT (name) DO NOTHING`,
				j.Name, j.State, j.Data, dbTime(j.StartedAt), dbTime(j.UpdatedAt), dbTime(j.FinishedAt))
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE jobs SET state = ?, data = ?, started_at = ?, updated_at = ?,
					finished_at = ?, revision = revision + 1
				WHERE name = ? AND revision = ?`,
				j.State, j.Data, dbTime(j.StartedAt), dbTime(j.UpdatedAt), dbTime(j.FinishedAt), j.Name, j.Revision)
		}
		if err != nil {
			return dbErr(err)
		}
		if err := affected(res, store.ErrConflict); err != nil {
			return err
		}
		out, err = scan.Job(tx.QueryRowContext(ctx, `SELECT `+store.JobColumns+` FROM jobs WHERE name = ?`, j.Name))
		return dbErr(err)
	})
	if err != nil {
		return store.Job{}, fmt.Errorf("put job %s: %w", j.Name, err)
	}
	return out, nil
}

// AddKeyUsage adds n to term's count and returns the new total; the
// immediate transaction makes it atomic across processes.
func (s *Store) AddKeyUsage(ctx context.Context, term uint32, n int64) (int64, error) {
	var total int64
	err := s.writePrepared(ctx, func(tx *prepTx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO key_usage (term, encryptions) VALUES (?, ?)
			ON CONFLICT (term) DO UPDATE SET encryptions = key_usage.encryptions + excluded.encryptions
			RETURNING encryptions`, int64(term), n).Scan(&total)
	})
	if err != nil {
		return 0, fmt.Errorf("add key usage of term %d: %w", term, err)
	}
	return total, nil
}
