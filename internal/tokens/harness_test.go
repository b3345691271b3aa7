package tokens

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqlite"
	"github.com/stormcreds/storm/internal/vault"
)

// world is what engines share in a test: a real SQLite store, a vault
// and one workspace. Engines on one world behave as instances of a
// cluster.
type world struct {
	t  *testing.T
	st store.Store
	v  *vault.Vault
	ws store.Workspace
}

func newWorld(t *testing.T) *world {
	t.Helper()
	st := sqlite.OpenTest(t)
	v := vault.OpenTest(t, st)
	ws := store.Workspace{ID: store.NewID("ws"), Name: "default", CreatedAt: time.Now().UTC()}
	if err := st.CreateWorkspace(context.Background(), ws); err != nil {
		t.Fatal(err)
	}
	return &world{t: t, st: st, v: v, ws: ws}
}

// engine starts an engine on w (an "instance"); cfg's Store, Vault and
// Sources are filled in (Sources with src unless set).
func (w *world) engine(cfg Config, src SourceFor) *Engine {
	w.t.Helper()
	cfg.Store, cfg.Vault = w.st, w.v
	if cfg.Sources == nil {
		cfg.Sources = src
	}
	e, err := New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(e.Close)
	return e
}

// connect stores a connected OAuth integration whose active credential
// holds ts, and returns the credential.
func (w *world) connect(name string, ts oauth.TokenSet) store.Credential {
	w.t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	in := store.Integration{ID: store.NewID("int"), WorkspaceID: w.ws.ID, Name: name, Provider: catalog.Custom,
		AuthMethod: catalog.MethodOAuth2, Config: []byte(`{}`), Status: store.StatusConnected, CreatedAt: now, UpdatedAt: now}
	if err := w.st.CreateIntegration(ctx, in); err != nil {
		w.t.Fatal(err)
	}
	c := store.Credential{ID: store.NewID("cred"), IntegrationID: in.ID, WorkspaceID: w.ws.ID, Version: 1, State: store.StateActive,
		CreatedAt: now, ExpiresAt: ts.Expiry, RefreshAt: NextRefresh(ts, 0, false)}
	c.Secret = w.seal(c, ts)
	set, err := w.st.Mutate(ctx, in.ID, func(set *store.CredentialSet) error {
		set.Credentials = append(set.Credentials, c)
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return set.Credentials[0]
}

func (w *world) seal(c store.Credential, ts oauth.TokenSet) []byte {
	m := Material{}
	m.SetTokens(ts)
	pt, _ := m.encode()
	ct, err := w.v.Seal(pt, vault.CredentialAD(c))
	if err != nil {
		w.t.Fatal(err)
	}
	return ct
}

// stored returns the credential and the token set the store holds now.
func (w *world) stored(id string) (store.Credential, oauth.TokenSet) {
	w.t.Helper()
	c, err := w.st.GetCredential(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	if c.State != store.StateActive {
		return c, oauth.TokenSet{}
	}
	pt, err := w.v.Open(c.Secret, vault.CredentialAD(c))
	if err != nil {
		w.t.Fatal(err)
	}
	m, err := decodeMaterial(pt)
	if err != nil {
		w.t.Fatal(err)
	}
	ts, err := m.Tokens()
	if err != nil {
		w.t.Fatal(err)
	}
	return c, ts
}

// replace writes ts over the credential's token set, as another writer
// committing meanwhile would.
func (w *world) replace(id string, ts oauth.TokenSet) {
	w.t.Helper()
	_, err := w.st.UpdateCredential(context.Background(), id, func(c store.Credential) (store.Credential, error) {
		c.Secret = w.seal(c, ts)
		c.ExpiresAt = ts.Expiry
		return c, nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) integration(id string) store.Integration {
	w.t.Helper()
	in, err := w.st.GetIntegration(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return in
}

// eventTypes lists the integration's event types, oldest first.
func (w *world) eventTypes(integID string) []string {
	w.t.Helper()
	evs, err := w.st.ListEvents(context.Background(), store.Page{IntegrationID: integID, Limit: 1000})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func hasEvent(types []string, want string) bool {
	for _, t := range types {
		if t == want {
			return true
		}
	}
	return false
}

// provider is a real authorization server (fosite: rotating refresh
// tokens; presenting a used one revokes the whole grant) and an OAuth
// client registered with it.
type provider struct {
	as  *oauthtest.Server
	app *oauth.App
}

func newProvider(t *testing.T, opts oauthtest.Options) *provider {
	t.Helper()
	as := oauthtest.New(t, opts)
	const redirect = "http://127.0.0.1/oauth/callback"
	as.AddRedirectURI(oauthtest.DefaultClientID, redirect)
	app := &oauth.App{Def: catalog.OAuth2{AuthStyle: "basic", Scopes: []string{"offline"}, PKCE: true},
		ClientID: oauthtest.DefaultClientID, ClientSecret: oauthtest.DefaultClientSecret, RedirectURL: redirect,
		Endpoints: oauth.Endpoints{AuthorizeURL: as.AuthorizeURL(), TokenURL: as.TokenURL(), RevokeURL: as.RevokeURL()}}
	return &provider{as: as, app: app}
}

// grant runs the authorization code flow and returns the first token set.
func (p *provider) grant(t *testing.T) oauth.TokenSet {
	t.Helper()
	verifier := "verifier-" + store.NewID("v") + "-0123456789-0123456789"
	back, err := p.as.Approve(context.Background(), p.app.AuthCodeURL("state-0123456789", verifier))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := p.app.Exchange(context.Background(), back.Query().Get("code"), verifier)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// sources hands every integration the provider's client.
func (p *provider) sources(context.Context, store.Integration, Material) (Source, error) {
	return p.app, nil
}

// scripted is a Source whose answers a test decides, for interleavings a
// real server cannot be made to produce on cue. It counts calls.
type scripted struct {
	calls  atomic.Int64
	answer func(old oauth.TokenSet) (oauth.TokenSet, error)
	// gate, when set, holds the refresh after the credential was read
	// and before the provider is called (at the step "source").
	gate *gate
}

func (s *scripted) Refresh(_ context.Context, old oauth.TokenSet) (oauth.TokenSet, error) {
	s.calls.Add(1)
	return s.answer(old)
}

func (s *scripted) Margin() time.Duration { return 0 }

func (s *scripted) sources(context.Context, store.Integration, Material) (Source, error) {
	if s.gate != nil {
		s.gate.hook("source")
	}
	return s, nil
}

// tokenSet is a token set expiring in ttl, with a refresh token.
func tokenSet(name string, ttl time.Duration) oauth.TokenSet {
	now := time.Now().UTC()
	return oauth.TokenSet{AccessToken: secret.String("at-" + name), RefreshToken: secret.String("rt-" + name),
		TokenType: "Bearer", Expiry: now.Add(ttl), ObtainedAt: now}
}

var errInvalidGrant = &oauth.Error{Op: "refresh", Code: "invalid_grant", Status: 400}

// gate blocks a test hook at one step until the test opens it.
type gate struct {
	step    string
	reached chan struct{}
	open    chan struct{}
	once    sync.Once
}

func newGate(step string) *gate {
	return &gate{step: step, reached: make(chan struct{}), open: make(chan struct{})}
}

func (g *gate) hook(step string) error {
	if step == g.step {
		g.once.Do(func() { close(g.reached) })
		<-g.open
	}
	return nil
}

// await waits until a hook reached the gate's step.
func (g *gate) await(t *testing.T) {
	t.Helper()
	select {
	case <-g.reached:
	case <-time.After(10 * time.Second):
		t.Fatalf("the refresh never reached %q", g.step)
	}
}

var errKilled = errors.New("killed")
