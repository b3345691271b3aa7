package api

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqlite"
)

// countingStore is a real SQLite store that counts token lookups.
type countingStore struct {
	store.Store
	lookups atomic.Int64
}

func (s *countingStore) GetAPITokenByHash(ctx context.Context, hash []byte) (store.APIToken, error) {
	s.lookups.Add(1)
	return s.Store.GetAPITokenByHash(ctx, hash)
}

func newTokenStore(t *testing.T, tokens int) (*countingStore, []string) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "storm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ws := store.Workspace{ID: store.NewID("ws"), Name: "default", CreatedAt: time.Now().UTC()}
	if err := st.CreateWorkspace(t.Context(), ws); err != nil {
		t.Fatal(err)
	}
	var raws []string
	for i := range tokens {
		raw, hash := NewToken()
		tok := store.APIToken{ID: store.NewID("tok"), Name: fmt.Sprint("t", i), WorkspaceID: ws.ID, Role: store.RoleWorker, Hash: hash, CreatedAt: time.Now().UTC()}
		if err := st.CreateAPIToken(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw)
	}
	return &countingStore{Store: st}, raws
}

// TestTokenCache: a token verified once is answered from memory until
// its TTL has passed, by every goroutine at once; a forgotten token is
// read again; an unknown token is never cached; the cache starts again
// empty when full.
func TestTokenCache(t *testing.T) {
	st, raws := newTokenStore(t, 3)
	c := newTokenCache(st, time.Minute)
	now := time.Now()
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if _, err := c.lookup(context.Background(), raws[0], now); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := st.lookups.Load(); n < 1 || n > 16 {
		t.Fatalf("%d store lookups for 1600 of one token, want one per goroutine at most", n)
	}
	st.lookups.Store(0)
	tok, err := c.lookup(t.Context(), raws[0], now.Add(2*time.Minute)) // past the TTL
	if err != nil || st.lookups.Load() != 1 {
		t.Fatalf("after the TTL: %v, %d store lookups, want 1", err, st.lookups.Load())
	}
	c.forget(tok.ID)
	if c.lookup(t.Context(), raws[0], now); st.lookups.Load() != 2 {
		t.Fatalf("a forgotten token was answered from memory")
	}
	for range 2 {
		if _, err := c.lookup(t.Context(), "storm_unknown", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown token: %v", err)
		}
	}
	if st.lookups.Load() != 4 {
		t.Fatalf("%d store lookups, want 4: an unknown token is never cached", st.lookups.Load())
	}
	c.size.Store(maxCachedTokens) // as if full
	c.lookup(t.Context(), raws[1], now)
	if n := c.size.Load(); n != 1 {
		t.Fatalf("a full cache holds %d entries after one more token, want 1 (started again)", n)
	}
}
