package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/stormcreds/storm/internal/store"
)

// PutJob stores j if the stored revision is j.Revision (0: none yet),
// else ErrConflict, and returns it as stored. Each form is one statement:
// of two racing writers at the same revision exactly one wins.
func (s *Store) PutJob(ctx context.Context, j store.Job) (store.Job, error) {
	var row pgx.Row
	if j.Revision == 0 {
		row = s.pool.QueryRow(ctx, `INSERT INTO jobs (`+store.JobColumns+`) VALUES ($1, $2, $3, $4, $5, $6, 1)
			ON CONFLICT (name) DO NOTHING RETURNING `+store.JobColumns,
			j.Name, j.State, j.Data, dbTime(j.StartedAt), dbTime(j.UpdatedAt), dbTime(j.FinishedAt))
	} else {
		row = s.pool.QueryRow(ctx, `UPDATE jobs SET state = $1, data = $2, started_at = $3, updated_at = $4,
				finished_at = $5, revision = revision + 1
			WHERE name = $6 AND revision = $7 RETURNING `+store.JobColumns,
			j.State, j.Data, dbTime(j.StartedAt), dbTime(j.UpdatedAt), dbTime(j.FinishedAt), j.Name, j.Revision)
	}
	out, err := scan.Job(row)
	if err != nil {
		err = dbErr(err)
		if errors.Is(err, store.ErrNotFound) { // no row written: the swap was lost
			err = store.ErrConflict
		}
		return store.Job{}, fmt.Errorf("put job %s: %w", j.Name, err)
	}
	return out, nil
}

// AddKeyUsage adds n to term's count and returns the new total in one
// upsert, atomic across instances.
func (s *Store) AddKeyUsage(ctx context.Context, term uint32, n int64) (int64, error) {
	var total int64
	err := s.pool.QueryRow(ctx, `INSERT INTO key_usage (term, encryptions) VALUES ($1, $2)
		ON CONFLICT (term) DO UPDATE SET encryptions = key_usage.encryptions + excluded.encryptions
		RETURNING encryptions`, int64(term), n).Scan(&total)
	if err != nil {
		return 0, fmt.Errorf("add key usage of term %d: %w", term, dbErr(err))
	}
	return total, nil
}
