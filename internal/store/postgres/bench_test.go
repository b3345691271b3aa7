package postgres_test

import (
	"testing"

	"github.com/stormcreds/storm/internal/store/postgres"
	"github.com/stormcreds/storm/internal/store/storetest"
)

func BenchmarkAudit(b *testing.B) {
	storetest.BenchAudit(b, postgres.OpenTest(b))
}

func BenchmarkQueries(b *testing.B) {
	storetest.BenchQueries(b, postgres.OpenTest(b))
}
