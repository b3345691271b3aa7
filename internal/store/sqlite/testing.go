package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// OpenTest opens a Store in a new file of t's temporary directory and
// closes it when t ends.
func OpenTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "storm.db"))
	if err != nil {
		t.Fatalf("open test store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
