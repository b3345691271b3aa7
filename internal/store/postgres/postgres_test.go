package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/postgres"
	"github.com/stormcreds/storm/internal/store/storetest"
)

// TestStore runs the conformance suite against PostgreSQL, each case in
// its own schema. Set STORM_TEST_POSTGRES to run it.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return postgres.OpenTest(t) })
}

// TestAuditChain runs the audit chain checks, each case in its own
// schema, with a second Store on the same schema as another instance.
func TestAuditChain(t *testing.T) {
	storetest.RunAuditChain(t, func(t *testing.T) storetest.ChainDB {
		url := postgres.TestURL(t)
		open := func(t *testing.T) store.Store {
			s, err := postgres.Open(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		return storetest.ChainDB{
			Store: open(t),
			Exec: func(t *testing.T, q string) {
				conn, err := pgx.Connect(t.Context(), url)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(context.Background())
				if _, err := conn.Exec(t.Context(), q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			},
			Another: open,
		}
	})
}
