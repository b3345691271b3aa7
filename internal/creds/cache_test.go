package creds

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
)

func TestUseCacheKeepsTheNewestRead(t *testing.T) {
	var c useCache
	const id = "int_1"
	older := &useEntry{seq: c.begin()}
	newer := &useEntry{seq: c.begin()}
	c.put(id, newer)
	c.put(id, older) // a slow read finishing last
	if e, _ := c.get(id); e != newer {
		t.Fatal("an older read replaced a newer one")
	}
	// A read that began before an invalidation is not kept.
	stale := &useEntry{seq: c.begin()}
	c.invalidate(id)
	c.put(id, stale)
	if _, ok := c.get(id); ok {
		t.Fatal("a read from before the invalidation was cached")
	}
	fresh := &useEntry{seq: c.begin()}
	c.put(id, fresh)
	if e, _ := c.get(id); e != fresh {
		t.Fatal("a read from after the invalidation was not cached")
	}
}

// TestUseCacheRace: readers, writers and invalidations in parallel; at
// the end the cached entry, if any, began after the last invalidation.
func TestUseCacheRace(t *testing.T) {
	var c useCache
	const id = "int_1"
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				if i%4 == 0 {
					c.invalidate(id)
					continue
				}
				e := &useEntry{seq: c.begin()}
				c.put(id, e)
				c.get(id)
			}
		}()
	}
	wg.Wait()
	if e, ok := c.get(id); ok && e.seq < c.mark(id).Load() {
		t.Fatalf("cached entry read at %d, invalidated at %d", e.seq, c.mark(id).Load())
	}
}

// gatedStore delays the return of one ListCredentials (a slow read)
// until released, handing back what it read before.
type gatedStore struct {
	store.Store
	armed   atomic.Bool
	reached chan struct{}
	release chan struct{}
}

func (g *gatedStore) LiveCredentials(ctx context.Context, id string) ([]store.Credential, error) {
	cs, err := g.Store.LiveCredentials(ctx, id)
	if g.armed.CompareAndSwap(true, false) {
		close(g.reached)
		<-g.release
	}
	return cs, err
}

// TestSlowReadDoesNotUndoARotation is the regression test for issue 9
// item 10: a read of the store that began before a rotation and finished
// after it put the old key back in the cache, over the entry read after
// the 401, so requests kept using the revoked key for the cache's life.
func TestSlowReadDoesNotUndoARotation(t *testing.T) {
	w := newWorld(t)
	gs := &gatedStore{Store: w.st, reached: make(chan struct{}), release: make(chan struct{})}
	s := w.service(func(c *Config) { c.Store = gs; c.CacheTTL = time.Minute })
	other := w.service(nil) // another instance
	api := newKeyAPI(t, "old-key-00000000001", "new-key-00000000002")
	in := w.create(s, "slow read", catalog.MethodAPIKey, apiKeyConfig(api.URL))
	old := save(t, s, in, "old-key-00000000001")
	// A request starts with the old key.
	_, target, err := s.ProxyTarget(context.Background(), actor, &in, "/me", "")
	if err != nil {
		t.Fatal(err)
	}

	gs.armed.Store(true)
	slow := make(chan error, 1)
	go func() { _, err := s.load(context.Background(), in.ID); slow <- err }()
	<-gs.reached // the slow read has the old key
	newer := save(t, other, in, "new-key-00000000002")
	if _, err := other.Revoke(context.Background(), actor, in, old.ID); err != nil {
		t.Fatal(err)
	}
	api.accept("old-key-00000000001", false)
	// The request meets the 401 and reloads.
	req, _ := http.NewRequest("GET", api.URL+"/me", nil)
	if err := target.Fallback.Apply(req); err != nil {
		t.Fatalf("retry after 401: %v", err)
	}
	close(gs.release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	e, err := s.use(context.Background(), in.ID, s.now())
	if err != nil {
		t.Fatal(err)
	}
	if e.active == nil || e.active.cred.ID != newer.ID {
		t.Fatal("the slow read put the revoked key back in the cache")
	}
}

// TestRetryStopsWaitingWhenClientLeaves is the regression test for the
// other half of issue 9 item 10: the forced refresh after a proxied 401
// ran under a context that ignored the client, so a client that timed
// out still held its request open for the whole refresh.
func TestRetryStopsWaitingWhenClientLeaves(t *testing.T) {
	w := newWorld(t)
	s := w.service(nil)
	as := newAS(t, oauthtest.Options{})
	api := newKeyAPI(t)
	in := w.authorize(s, as, w.create(s, "impatient", catalog.MethodOAuth2, oauthConfig(as, api.URL)))
	_, target, err := s.ProxyTarget(context.Background(), actor, &in, "/me", "")
	if err != nil {
		t.Fatal(err)
	}
	as.SetDelay(3 * time.Second) // a slow token endpoint
	defer as.SetDelay(0)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", api.URL+"/me", nil)
	start := time.Now()
	err = target.Fallback.Apply(req)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the retry waited %v for a client that gave up after 200ms", took)
	}
	if err == nil {
		t.Fatal("the retry succeeded without a refreshed token")
	}
}

// TestCloseWaitsForProviderRevocations is the regression test for issue
// 9 item 11: revocations of replaced tokens at the provider ran in
// goroutines nobody waited for, so they could outlive the store.
func TestCloseWaitsForProviderRevocations(t *testing.T) {
	w := newWorld(t)
	s := w.service(nil)
	as := newAS(t, oauthtest.Options{})
	api := newKeyAPI(t)
	release := make(chan struct{})
	var arrived atomic.Int64
	slowRevoke := newSlowServer(t, release, &arrived)
	cfg := oauthConfig(as, api.URL)
	cfg["oauth2"].(map[string]any)["revoke_url"] = slowRevoke
	in := w.authorize(s, as, w.create(s, "revoke on close", catalog.MethodOAuth2, cfg))
	w.authorize(s, as, in) // Reconnect: the first token set is revoked in the background
	deadline := time.Now().Add(5 * time.Second)
	for arrived.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if arrived.Load() == 0 {
		t.Fatal("no revocation reached the provider")
	}
	closed := make(chan struct{})
	go func() { s.Close(context.Background()); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a revocation was in flight")
	case <-time.After(150 * time.Millisecond):
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the revocation finished")
	}
	// A grace period that ends cancels what is left.
	s2 := w.service(nil)
	release2 := make(chan struct{})
	defer close(release2)
	var arrived2 atomic.Int64
	cfg = oauthConfig(as, api.URL)
	cfg["oauth2"].(map[string]any)["revoke_url"] = newSlowServer(t, release2, &arrived2)
	in2 := w.authorize(s2, as, w.create(s2, "revoke cancelled", catalog.MethodOAuth2, cfg))
	w.authorize(s2, as, in2)
	for arrived2.Load() == 0 && time.Now().Before(deadline.Add(5*time.Second)) {
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	s2.Close(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Close with a 100ms grace period took %v", took)
	}
}

// TestRefreshReplacesCachedTokenAtOnce: a token set this instance
// refreshes (here the way a 401 retry or the background loop does)
// replaces the cached one at once, however long the cache would keep
// it: a provider that dropped every session of the old token would
// otherwise meet it again, and a 401 retry takes the newest stored token,
// which the old one's requests would see as already refreshed.
func TestRefreshReplacesCachedTokenAtOnce(t *testing.T) {
	w := newWorld(t)
	s := w.service(func(c *Config) { c.CacheTTL = time.Hour })
	as := newAS(t, oauthtest.Options{})
	api := newKeyAPI(t)
	in := w.authorize(s, as, w.create(s, "cached token", catalog.MethodOAuth2, oauthConfig(as, api.URL)))
	ctx := context.Background()

	access := func() string {
		t.Helper()
		a, err := s.Access(ctx, actor, in)
		if err != nil {
			t.Fatal(err)
		}
		return a.(map[string]any)["access_token"].(string)
	}
	first := access()
	var active store.Credential
	for _, c := range w.credentials(in.ID) {
		if c.State == store.StateActive {
			active = c
		}
	}
	ts, err := s.tokens.RefreshAfter401(ctx, active, secret.String(first), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if ts.AccessToken.Reveal() == first {
		t.Fatal("the refresh returned the refused token")
	}
	if access() != ts.AccessToken.Reveal() {
		t.Fatal("the cache still hands out the token this instance just replaced")
	}
}

// TestAccessAnswerFollowsRotation: the /access answer of an API key is
// encoded once per cache entry, exactly as the API would encode it
// (no HTML escaping), and a new key is answered as soon as it is saved.
func TestAccessAnswerFollowsRotation(t *testing.T) {
	w := newWorld(t)
	s := w.service(nil)
	const first, second = "sk_first<&>key", "sk_second_key"
	api := newKeyAPI(t, first, second)
	in := w.create(s, "encoded answer", catalog.MethodAPIKey, apiKeyConfig(api.URL))
	answer := func() map[string]any {
		t.Helper()
		a, err := s.Access(context.Background(), actor, in)
		if err != nil {
			t.Fatal(err)
		}
		raw, ok := a.(json.RawMessage)
		if !ok {
			t.Fatalf("Access answered %T, want the encoded answer", a)
		}
		if !bytes.HasSuffix(raw, []byte("}\n")) || bytes.Contains(raw, []byte(`\u0026`)) {
			t.Fatalf("answer %q is not encoded as the API writes JSON", raw)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	save(t, s, in, first)
	if got := answer()["api_key"]; got != first {
		t.Fatalf("api_key %v, want %s", got, first)
	}
	save(t, s, in, second)
	if got := answer()["api_key"]; got != second {
		t.Fatalf("after saving a new key, api_key %v, want %s", got, second)
	}
}

// TestFallbackAnswerIsAudited: a proxied request the provider refused
// with the active key and answered with the previous one (a rotation
// overlap) leaves one credential.fallback_used record naming the version
// that answered, and a request the active key answers leaves none.
func TestFallbackAnswerIsAudited(t *testing.T) {
	w := newWorld(t)
	s := w.service(nil)
	api := newKeyAPI(t, "old-key-00000000001", "new-key-00000000002")
	in := w.create(s, "overlap", catalog.MethodAPIKey, apiKeyConfig(api.URL))
	old := save(t, s, in, "old-key-00000000001")
	save(t, s, in, "new-key-00000000002")
	api.accept("new-key-00000000002", false) // say, not yet live on every provider server
	proxied := func() {
		t.Helper()
		via, target, err := s.ProxyTarget(context.Background(), actor, &in, "me", "")
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		via.ServeTarget(rec, httptest.NewRequest("GET", "/v1/integrations/"+in.ID+"/proxy/me", nil), target)
		if rec.Code != http.StatusOK {
			t.Fatalf("proxied request: %d %s", rec.Code, rec.Body)
		}
	}
	proxied()
	recs := w.audit(events.CredentialFallbackUsed)
	if len(recs) != 1 || recs[0].Target != old.ID || recs[0].Actor != actor.TokenID {
		t.Fatalf("after a fallback, %s records = %+v, want one for %s by %s", events.CredentialFallbackUsed, recs, old.ID, actor.TokenID)
	}
	api.accept("new-key-00000000002", true)
	proxied()
	if n := len(w.audit(events.CredentialFallbackUsed)); n != 1 {
		t.Fatalf("a request the active key answered added a %s record (%d now)", events.CredentialFallbackUsed, n)
	}
}
