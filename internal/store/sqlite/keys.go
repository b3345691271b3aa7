package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
)

// ScanCredentials returns up to limit credentials with an id after after,
// ordered by id (one range scan of the primary key).
func (s *Store) ScanCredentials(ctx context.Context, after string, limit int) ([]store.Credential, error) {
	rows, err := s.ro.QueryContext(ctx, `SELECT `+store.CredentialColumns+` FROM credentials
		WHERE id > ? ORDER BY id LIMIT ?`, after, store.ScanLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("scan credentials: %w", err)
	}
	cs, err := collect(rows, scan.Credential)
	if err != nil {
		return nil, fmt.Errorf("scan credentials: %w", err)
	}
	return cs, nil
}

// ScanIntegrations returns up to limit integrations with an id after
// after, ordered by id.
func (s *Store) ScanIntegrations(ctx context.Context, after string, limit int) ([]store.Integration, error) {
	rows, err := s.ro.QueryContext(ctx, `SELECT `+store.IntegrationColumns+` FROM integrations
		WHERE id > ? ORDER BY id LIMIT ?`, after, store.ScanLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("scan integrations: %w", err)
	}
	ins, err := collect(rows, scan.Integration)
	if err != nil {
		return nil, fmt.Errorf("scan integrations: %w", err)
	}
	return ins, nil
}

// CountCredentials counts every credential version.
func (s *Store) CountCredentials(ctx context.Context) (int64, error) {
	var n int64
	if err := s.ro.QueryRowContext(ctx, `SELECT count(*) FROM credentials`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count credentials: %w", err)
	}
	return n, nil
}

// CountIntegrations counts every integration.
func (s *Store) CountIntegrations(ctx context.Context) (int64, error) {
	var n int64
	if err := s.ro.QueryRowContext(ctx, `SELECT count(*) FROM integrations`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count integrations: %w", err)
	}
	return n, nil
}

// GetJob returns the named job, or ErrNotFound.
func (s *Store) GetJob(ctx context.Context, name string) (store.Job, error) {
	j, err := scan.Job(s.ro.QueryRowContext(ctx, `SELECT `+store.JobColumns+` FROM jobs WHERE name = ?`, name))
	if err != nil {
		return store.Job{}, fmt.Errorf("get job %s: %w", name, dbErr(err))
	}
	return j, nil
}

// PutJob stores j if the stored revision is j.Revision (0: none yet),
// else ErrConflict, and returns it as stored.
func (s *Store) PutJob(ctx context.Context, j store.Job) (store.Job, error) {
	var out store.Job
	err := s.write(ctx, func(tx *prepTx) error {
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
	err := s.write(ctx, func(tx *prepTx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO key_usage (term, encryptions) VALUES (?, ?)
			ON CONFLICT (term) DO UPDATE SET encryptions = key_usage.encryptions + excluded.encryptions
			RETURNING encryptions`, int64(term), n).Scan(&total)
	})
	if err != nil {
		return 0, fmt.Errorf("add key usage of term %d: %w", term, err)
	}
	return total, nil
}

// KeyUsage returns every counted term's total.
func (s *Store) KeyUsage(ctx context.Context) (map[uint32]int64, error) {
	rows, err := s.ro.QueryContext(ctx, `SELECT term, encryptions FROM key_usage`)
	if err != nil {
		return nil, fmt.Errorf("key usage: %w", err)
	}
	defer rows.Close()
	out := map[uint32]int64{}
	for rows.Next() {
		var term, n int64
		if err := rows.Scan(&term, &n); err != nil {
			return nil, fmt.Errorf("key usage: %w", err)
		}
		out[uint32(term)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("key usage: %w", err)
	}
	return out, nil
}
