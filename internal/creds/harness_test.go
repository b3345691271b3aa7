package creds

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/proxy"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqlite"
	"github.com/stormcreds/storm/internal/vault"
)

// world is the shared state of a cluster in a test: one real SQLite
// store and its vault. Services on one world act as instances.
type world struct {
	t  testing.TB
	st store.Store
	v  *vault.Vault
	ws store.Workspace
}

// publicURL is the services' external URL; the OAuth redirect URI is
// publicURL + CallbackPath.
const publicURL = "http://127.0.0.1:1"

var actor = events.Actor{TokenID: "tok_test", IP: "127.0.0.1"}

func newWorld(t testing.TB) *world {
	t.Helper()
	st := sqlite.OpenTest(t)
	v := vault.OpenTest(t, st)
	ws := store.Workspace{ID: store.NewID("ws"), Name: "default", CreatedAt: time.Now().UTC()}
	if err := st.CreateWorkspace(context.Background(), ws); err != nil {
		t.Fatal(err)
	}
	return &world{t: t, st: st, v: v, ws: ws}
}

// service starts a Service ("an instance") on w. edit may change its
// config before it starts.
func (w *world) service(edit func(*Config)) *Service {
	w.t.Helper()
	cat, err := catalog.Load()
	if err != nil {
		w.t.Fatal(err)
	}
	px, err := proxy.New(proxy.Config{AllowPrivate: true})
	if err != nil {
		w.t.Fatal(err)
	}
	cfg := Config{Store: w.st, Vault: w.v, Catalog: cat, Recorder: events.NewRecorder(w.st, time.Now, slog.Default(), events.ReadsConfig{}), Proxy: px, PublicURL: publicURL}
	if edit != nil {
		edit(&cfg)
	}
	if cfg.Recorder == nil {
		cfg.Recorder = events.NewRecorder(w.st, time.Now, slog.Default(), events.ReadsConfig{})
	}
	s, err := New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// keyAPI is an upstream API that accepts the keys in its set (Bearer)
// at /me and records every Authorization header it is sent.
type keyAPI struct {
	*httptest.Server
	mu   sync.Mutex
	keys map[string]bool
	seen []string
}

func newKeyAPI(t testing.TB, keys ...string) *keyAPI {
	k := &keyAPI{keys: map[string]bool{}}
	for _, key := range keys {
		k.keys[key] = true
	}
	k.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		k.mu.Lock()
		k.seen = append(k.seen, key)
		ok := k.keys[key]
		k.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(k.Close)
	return k
}

func (k *keyAPI) accept(key string, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[key] = ok
}

// saw reports whether any request carried key.
func (k *keyAPI) saw(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, s := range k.seen {
		if s == key {
			return true
		}
	}
	return false
}

// apiKeyConfig is a custom API-key integration's config for base.
func apiKeyConfig(base string) map[string]any {
	return map[string]any{"base_url": base,
		"api_key": map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "},
		"verify":  map[string]any{"method": "GET", "path": "/me"}}
}

func (w *world) create(s *Service, name, method string, cfg map[string]any) store.Integration {
	w.t.Helper()
	in, err := s.CreateIntegration(context.Background(), actor, w.ws, CreateInput{Name: name, Provider: catalog.Custom, AuthMethod: method, Config: cfg})
	if err != nil {
		w.t.Fatalf("create %s: %v", name, err)
	}
	return in
}

func (w *world) integration(id string) store.Integration {
	w.t.Helper()
	in, err := w.st.GetIntegration(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return in
}

func (w *world) credentials(id string) []store.Credential {
	w.t.Helper()
	cs, err := w.st.ListCredentials(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return cs
}

// events returns the integration's events, oldest first.
func (w *world) events(id string) []store.Event {
	w.t.Helper()
	evs, err := w.st.ListEvents(context.Background(), store.Page{IntegrationID: id, Limit: 1000})
	if err != nil {
		w.t.Fatal(err)
	}
	return evs
}

// audit returns the workspace's audit records with action, oldest first.
func (w *world) audit(action string) []store.AuditRecord {
	w.t.Helper()
	recs, err := w.st.ListAudit(context.Background(), store.Page{WorkspaceID: w.ws.ID, Limit: 1000})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []store.AuditRecord
	for _, r := range recs {
		if r.Action == action {
			out = append(out, r)
		}
	}
	return out
}

func detail(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	m := map[string]any{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// oauthEnv is a real authorization server (fosite, rotating refresh
// tokens) with Storm's redirect URI registered.
func newAS(t *testing.T, opts oauthtest.Options) *oauthtest.Server {
	as := oauthtest.New(t, opts)
	as.AddRedirectURI(oauthtest.DefaultClientID, publicURL+CallbackPath)
	return as
}

// oauthConfig is a custom OAuth 2.0 integration's config for as, with
// the API at base.
func oauthConfig(as *oauthtest.Server, base string) map[string]any {
	return map[string]any{"base_url": base, "oauth2": map[string]any{
		"authorize_url": as.AuthorizeURL(), "token_url": as.TokenURL(), "revoke_url": as.RevokeURL(),
		"client_id": oauthtest.DefaultClientID, "client_secret": oauthtest.DefaultClientSecret, "scopes": []any{"offline"}, "pkce": true}}
}

// authorize runs Authorize, the provider's approval and the callback.
func (w *world) authorize(s *Service, as *oauthtest.Server, in store.Integration) store.Integration {
	w.t.Helper()
	ctx := context.Background()
	u, err := s.Authorize(ctx, actor, in, "", nil)
	if err != nil {
		w.t.Fatalf("authorize: %v", err)
	}
	back, err := as.Approve(ctx, u)
	if err != nil {
		w.t.Fatalf("approve: %v", err)
	}
	q, _ := url.ParseQuery(back.RawQuery)
	got, _, err := s.Callback(ctx, q, nil)
	if err != nil {
		w.t.Fatalf("callback: %v", err)
	}
	return got
}

// tokenSetFor is a token set that expires in an hour.
func tokenSetFor(name string) oauth.TokenSet {
	now := time.Now().UTC()
	return oauth.TokenSet{AccessToken: secret.String("at-" + name), RefreshToken: secret.String("rt-" + name),
		TokenType: "Bearer", Expiry: now.Add(time.Hour), ObtainedAt: now}
}

// newSlowServer answers every request only after release is closed (or
// the client leaves), counting arrivals; it returns its URL.
func newSlowServer(t *testing.T, release chan struct{}, arrived *atomic.Int64) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
