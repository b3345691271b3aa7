package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

// Heartbeat records that instance id is alive and seals under term.
func (s *Store) Heartbeat(ctx context.Context, id string, term uint32) error {
	err := s.writePrepared(ctx, func(tx *prepTx) error {
		// One file, one machine: its clock is the database's.
		now := time.Now()
		if _, err := tx.ExecContext(ctx, `INSERT INTO instances (id, key_term, seen_at) VALUES (?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET key_term = excluded.key_term, seen_at = excluded.seen_at`,
			id, int64(term), dbTime(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM instances WHERE seen_at < ?`, dbTime(now.Add(-store.InstancePurgeAfter)))
		return err
	})
	if err != nil {
		return fmt.Errorf("heartbeat %s: %w", id, err)
	}
	return nil
}

// LiveInstances returns the instances seen within the last within.
func (s *Store) LiveInstances(ctx context.Context, within time.Duration) ([]store.Instance, error) {
	list, err := sqldb.QueryAll(ctx, conn{s.ro}, scan.Instance, `SELECT `+store.InstanceColumns+` FROM instances
		WHERE seen_at >= ? ORDER BY id`, dbTime(time.Now().Add(-within)))
	if err != nil {
		return nil, fmt.Errorf("live instances: %w", err)
	}
	return list, nil
}
