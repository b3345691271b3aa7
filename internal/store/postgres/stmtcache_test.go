package postgres

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

// TestStatementCacheOn: the pool prepares each query text once per
// connection and reuses it (pgx's QueryExecModeCacheStatement), so a
// lookup is one Bind/Execute round trip instead of Parse, Describe, Bind
// and Execute. The shared queries are fixed text, so the cache holds one
// entry per query.
func TestStatementCacheOn(t *testing.T) {
	s := OpenTest(t)
	cfg := s.pool.Config().ConnConfig
	if cfg.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement || cfg.StatementCacheCapacity <= 0 {
		t.Fatalf("exec mode %v, statement cache capacity %d: want the statement cache on",
			cfg.DefaultQueryExecMode, cfg.StatementCacheCapacity)
	}
	pc, err := s.pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Release()
	q := sqldb.New(sqldb.Backend{Dialect: dialect, Read: conn{pc}})
	for range 3 {
		if _, err := q.GetIntegration(t.Context(), "int_none"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetIntegration: %v, want ErrNotFound", err)
		}
	}
	var n int
	if err := pc.QueryRow(t.Context(), `SELECT count(*) FROM pg_prepared_statements WHERE statement = $1`,
		sqldb.GetIntegrationSQL).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("three lookups left %d prepared statements of their text on the connection, want 1", n)
	}
}
