package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqlite"
	"github.com/stormcreds/storm/internal/store/storetest"
)

// TestStore runs the conformance suite against a fresh file per case.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "storm.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// The file holds wrapped keys and ciphertext: only its owner may read it,
// and that includes the WAL next to it.
func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "storm.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateWorkspace(t.Context(), store.Workspace{ID: store.NewID("ws"), Name: "default"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Errorf("stat: %v", err)
			continue
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(name), mode)
		}
	}
}

// Reopening runs no migration twice and keeps the data.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "storm db?#%.db") // characters a URI would misread
	for i := range 2 {
		s, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if i == 0 {
			err = s.CreateWorkspace(t.Context(), store.Workspace{ID: store.NewID("ws"), Name: "default"})
		} else {
			_, err = s.GetWorkspace(t.Context(), "default")
		}
		s.Close()
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the path given: %v", err)
	}
}

// TestAuditChain runs the audit chain checks against a fresh file per
// case, tampering through a second connection to the file.
func TestAuditChain(t *testing.T) {
	storetest.RunAuditChain(t, func(t *testing.T) storetest.ChainDB {
		path := filepath.Join(t.TempDir(), "storm.db")
		open := func(t *testing.T) store.Store {
			s, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		return storetest.ChainDB{
			Store: open(t),
			Exec: func(t *testing.T, q string) {
				db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if _, err := db.ExecContext(t.Context(), q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			},
			Another: open,
		}
	})
}
