package sqldb

import (
	"context"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
)

// ScanCredentials returns up to limit credentials with an id after after,
// ordered by id (one range scan of the primary key).
func (q *Queries) ScanCredentials(ctx context.Context, after string, limit int) ([]store.Credential, error) {
	cs, err := QueryAll(ctx, q.read, q.d.Scan.Credential, `SELECT `+store.CredentialColumns+` FROM credentials
		WHERE id > $1 ORDER BY id LIMIT $2`, after, store.ScanLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("scan credentials: %w", err)
	}
	return cs, nil
}

// ScanIntegrations returns up to limit integrations with an id after
// after, ordered by id.
func (q *Queries) ScanIntegrations(ctx context.Context, after string, limit int) ([]store.Integration, error) {
	ins, err := QueryAll(ctx, q.read, q.d.Scan.Integration, `SELECT `+store.IntegrationColumns+` FROM integrations
		WHERE id > $1 ORDER BY id LIMIT $2`, after, store.ScanLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("scan integrations: %w", err)
	}
	return ins, nil
}

// CountCredentials counts every credential version.
func (q *Queries) CountCredentials(ctx context.Context) (int64, error) {
	var n int64
	if err := q.read.QueryRow(ctx, `SELECT count(*) FROM credentials`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count credentials: %w", err)
	}
	return n, nil
}

// CountIntegrations counts every integration.
func (q *Queries) CountIntegrations(ctx context.Context) (int64, error) {
	var n int64
	if err := q.read.QueryRow(ctx, `SELECT count(*) FROM integrations`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count integrations: %w", err)
	}
	return n, nil
}

// GetJob returns the named job, or ErrNotFound.
func (q *Queries) GetJob(ctx context.Context, name string) (store.Job, error) {
	j, err := q.d.Scan.Job(q.read.QueryRow(ctx, `SELECT `+store.JobColumns+` FROM jobs WHERE name = $1`, name))
	if err != nil {
		return store.Job{}, fmt.Errorf("get job %s: %w", name, q.d.Err(err))
	}
	return j, nil
}

// KeyUsage returns every counted term's total.
func (q *Queries) KeyUsage(ctx context.Context) (map[uint32]int64, error) {
	rows, err := q.read.Query(ctx, `SELECT term, encryptions FROM key_usage`)
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
