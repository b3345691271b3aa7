package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

// Heartbeat records, at the database's clock, that instance id is alive
// and seals under term.
func (s *Store) Heartbeat(ctx context.Context, id string, term uint32) error {
	_, err := s.pool.Exec(ctx, `WITH beat AS (
			INSERT INTO instances (id, key_term, seen_at) VALUES ($1, $2, clock_timestamp())
			ON CONFLICT (id) DO UPDATE SET key_term = excluded.key_term, seen_at = excluded.seen_at
		)
		DELETE FROM instances WHERE seen_at < clock_timestamp() - make_interval(secs => $3)`,
		id, int64(term), store.InstancePurgeAfter.Seconds())
	if err != nil {
		return fmt.Errorf("heartbeat %s: %w", id, dbErr(err))
	}
	return nil
}

// LiveInstances returns the instances seen within the last within, by
// the database's clock.
func (s *Store) LiveInstances(ctx context.Context, within time.Duration) ([]store.Instance, error) {
	list, err := sqldb.QueryAll(ctx, conn{s.pool}, scan.Instance, `SELECT `+store.InstanceColumns+` FROM instances
		WHERE seen_at >= clock_timestamp() - make_interval(secs => $1) ORDER BY id`, within.Seconds())
	if err != nil {
		return nil, fmt.Errorf("live instances: %w", dbErr(err))
	}
	return list, nil
}
