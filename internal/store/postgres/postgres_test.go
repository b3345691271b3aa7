package postgres_test

import (
	"testing"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/postgres"
	"github.com/stormcreds/storm/internal/store/storetest"
)

// TestStore runs the conformance suite against PostgreSQL, each case in
// its own schema. Set STORM_TEST_POSTGRES to run it.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return postgres.OpenTest(t) })
}
