package creds

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/store"
)

// trap is an endpoint an attacker controls: it records every request
// body and Authorization header it receives and answers like a token
// endpoint.
type trap struct {
	*httptest.Server
	hits   atomic.Int64
	leaked atomic.Bool
}

func newTrap(t *testing.T, secrets ...string) *trap {
	tr := &trap{}
	tr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.hits.Add(1)
		r.ParseForm()
		seen := r.Header.Get("Authorization") + " " + r.Form.Encode()
		for _, s := range secrets {
			if strings.Contains(seen, s) {
				tr.leaked.Store(true)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"attacker","token_type":"Bearer","expires_in":3600}`))
	}))
	t.Cleanup(tr.Close)
	return tr
}

// TestChangedTokenURLGetsNoSecret is the regression test for issue 9
// item 1: an editor moved a custom integration's oauth2.token_url to a
// host they control, sent the masked client secret back, and the next
// refresh posted the client secret and the refresh token there.
func TestChangedTokenURLGetsNoSecret(t *testing.T) {
	w := newWorld(t)
	s := w.service(nil)
	as := newAS(t, oauthtest.Options{})
	api := newKeyAPI(t)
	in := w.create(s, "moved token url", catalog.MethodOAuth2, oauthConfig(as, api.URL))
	in = w.authorize(s, as, in)
	revokesBefore := as.RevokeRequests()

	evil := newTrap(t, oauthtest.DefaultClientSecret)
	patch := oauthConfig(as, api.URL)
	patch["oauth2"].(map[string]any)["token_url"] = evil.URL + "/token"
	patch["oauth2"].(map[string]any)["client_secret"] = Mask
	_, err := s.UpdateIntegration(context.Background(), actor, in.ID, UpdateInput{Config: patch})
	p, ok := problem.As(err)
	if !ok || p.Status != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].Field != "config.oauth2.client_secret" {
		t.Fatalf("PATCH keeping the masked secret for a new token_url: %v", err)
	}
	if got := w.integration(in.ID); string(got.Config) != string(in.Config) || got.Status != store.StatusConnected {
		t.Fatalf("a refused PATCH changed the integration: %s %s", got.Config, got.Status)
	}

	// With a new secret the change goes through, and the tokens from the
	// old server are gone: revoked here and at the old server.
	patch = oauthConfig(as, api.URL)
	patch["oauth2"].(map[string]any)["token_url"] = evil.URL + "/token"
	patch["oauth2"].(map[string]any)["client_secret"] = "a-new-secret-for-the-new-server"
	updated, err := s.UpdateIntegration(context.Background(), actor, in.ID, UpdateInput{Config: patch})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Status != store.StatusReconnectRequired {
		t.Fatalf("status %s after the token endpoint moved, want reconnect_required", updated.Status)
	}
	for _, c := range w.credentials(in.ID) {
		if c.State != store.StateRevoked || c.Secret != nil {
			t.Fatalf("version %d still %s after the endpoints moved", c.Version, c.State)
		}
	}
	if _, err := s.Access(context.Background(), actor, updated); problemStatus(err) != http.StatusConflict {
		t.Fatalf("access after the move: %v, want 409", err)
	}
	s.Close(context.Background()) // waits for the revocation at the old server
	if evil.hits.Load() != 0 || evil.leaked.Load() {
		t.Fatalf("the new token endpoint was sent %d requests (secret leaked: %v)", evil.hits.Load(), evil.leaked.Load())
	}
	if as.RevokeRequests() == revokesBefore {
		t.Error("the old tokens were not revoked at the server that issued them")
	}
	recs := w.audit("integration.update")
	d := detail(t, recs[len(recs)-1].Detail)
	moved, _ := d["endpoints"].(map[string]any)
	tu, _ := moved["oauth2.token_url"].(map[string]any)
	if tu["from"] != as.TokenURL() || tu["to"] != evil.URL+"/token" {
		t.Fatalf("audit of the move: %v", d)
	}
	var revoked int
	for _, e := range w.events(in.ID) {
		if e.Type == events.CredentialRevoked && detail(t, e.Data)["reason"] == revokedByEndpoint {
			revoked++
		}
	}
	if revoked == 0 {
		t.Fatal("no credential.revoked event for the move")
	}
}

// TestChangedBaseURLGetsNoKey (issue 9 item 1): an API key verified
// against one base URL is never sent to another.
func TestChangedBaseURLGetsNoKey(t *testing.T) {
	w := newWorld(t)
	s := w.service(nil)
	const key = "sk_live_bound_to_one_host"
	api := newKeyAPI(t, key)
	in := w.create(s, "moved base url", catalog.MethodAPIKey, apiKeyConfig(api.URL))
	save(t, s, in, key)
	other := newKeyAPI(t)
	updated, err := s.UpdateIntegration(context.Background(), actor, in.ID, UpdateInput{Config: apiKeyConfig(other.URL)})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Status != store.StatusPending {
		t.Fatalf("status %s after the base URL moved, want pending", updated.Status)
	}
	if _, err := s.Verify(context.Background(), actor, updated); err == nil {
		t.Fatal("verify with no credential for the new base URL succeeded")
	}
	if _, _, err := s.ProxyTarget(context.Background(), actor, &updated, "/me", ""); problemStatus(err) != http.StatusConflict {
		t.Fatalf("proxy after the move: %v, want 409", err)
	}
	if other.saw(key) {
		t.Fatal("the key reached the new base URL")
	}
	// An unchanged endpoint keeps everything.
	same := apiKeyConfig(other.URL)
	same["verify"] = map[string]any{"method": "GET", "path": "/me"}
	other.accept(key, true) // saved again for the new host, on purpose
	save(t, s, updated, key)
	if _, err := s.UpdateIntegration(context.Background(), actor, in.ID, UpdateInput{Config: same}); err != nil {
		t.Fatal(err)
	}
	if cs := w.credentials(in.ID); cs[len(cs)-1].State != store.StateActive {
		t.Fatal("a PATCH that moved nothing revoked the key")
	}
}

// TestChangedServiceAccountTokenURLRefusesMask (issue 9 item 1): the
// same rule for a client_credentials integration's token_url.
func TestChangedServiceAccountTokenURLRefusesMask(t *testing.T) {
	w := newWorld(t)
	s := w.service(nil)
	as := newAS(t, oauthtest.Options{})
	api := newKeyAPI(t)
	cfg := func(tokenURL, secret string) map[string]any {
		return map[string]any{"base_url": api.URL, "service_account": map[string]any{
			"kind": "client_credentials", "token_url": tokenURL, "client_id": oauthtest.DefaultClientID, "client_secret": secret}}
	}
	in := w.create(s, "sa", catalog.MethodServiceAccount, cfg(as.TokenURL(), oauthtest.DefaultClientSecret))
	evil := newTrap(t, oauthtest.DefaultClientSecret)
	_, err := s.UpdateIntegration(context.Background(), actor, in.ID, UpdateInput{Config: cfg(evil.URL+"/token", Mask)})
	p, ok := problem.As(err)
	if !ok || p.Status != http.StatusUnprocessableEntity || p.Errors[0].Field != "config.service_account.client_secret" {
		t.Fatalf("PATCH keeping the masked secret for a new token_url: %v", err)
	}
	if evil.hits.Load() != 0 {
		t.Fatal("the new token endpoint was contacted")
	}
}

// TestAuthorizationFinishingAfterMoveStoresNothing: tokens exchanged at
// the old server are not stored once the endpoints moved meanwhile.
func TestAuthorizationFinishingAfterMoveStoresNothing(t *testing.T) {
	w := newWorld(t)
	s := w.service(nil)
	as := newAS(t, oauthtest.Options{})
	api := newKeyAPI(t)
	in := w.create(s, "race", catalog.MethodOAuth2, oauthConfig(as, api.URL))
	moved := in
	cfg := oauthConfig(as, api.URL)
	cfg["oauth2"].(map[string]any)["token_url"] = "https://elsewhere.example/token"
	cfg["oauth2"].(map[string]any)["client_secret"] = "another-secret"
	var err error
	if moved, err = s.UpdateIntegration(context.Background(), actor, in.ID, UpdateInput{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	_ = moved
	// A token set obtained with the settings read before the move.
	if _, err := s.saveTokenSet(context.Background(), actor, in, tokenSetFor("raced"), 0); problemStatus(err) != http.StatusConflict {
		t.Fatalf("storing tokens from the old server after the move: %v, want 409", err)
	}
	if n := len(w.credentials(in.ID)); n != 0 {
		t.Fatalf("%d versions stored", n)
	}
}
