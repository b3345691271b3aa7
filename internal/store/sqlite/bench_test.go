package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/stormcreds/storm/internal/store/sqlite"
	"github.com/stormcreds/storm/internal/store/storetest"
)

func BenchmarkAudit(b *testing.B) {
	s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "storm.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchAudit(b, s)
}

func BenchmarkQueries(b *testing.B) {
	s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "storm.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchQueries(b, s)
}
