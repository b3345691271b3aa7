package postgres

import (
	"sync"
	"testing"
)

// Instances of a cluster start together: their migrations must take
// turns and each run once.
func TestConcurrentOpen(t *testing.T) {
	url := TestURL(t)
	const instances = 4
	stores := make([]*Store, instances)
	var wg sync.WaitGroup
	for i := range instances {
		wg.Go(func() {
			s, err := Open(t.Context(), url)
			if err != nil {
				t.Errorf("Open: %v", err)
				return
			}
			stores[i] = s
		})
	}
	wg.Wait()
	for _, s := range stores {
		if s != nil {
			defer s.Close()
		}
	}
	if t.Failed() {
		return
	}

	var applied, files int
	if err := stores[0].pool.QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	entries, err := migrations.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	files = len(entries)
	if applied != files {
		t.Errorf("%d migrations recorded, want %d", applied, files)
	}
}
