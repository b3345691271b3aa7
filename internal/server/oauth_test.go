package server_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/store"
)

// oauthEnv is a Storm and a real authorization server (fosite) that
// knows Storm's redirect URI.
type oauthEnv struct {
	*servertest.Env
	AS *oauthtest.Server
}

func startOAuth(t *testing.T, opts servertest.Options, asOpts oauthtest.Options) *oauthEnv {
	t.Helper()
	as := oauthtest.New(t, asOpts)
	env := servertest.Start(t, opts)
	as.AddRedirectURI(oauthtest.DefaultClientID, env.URL+"/oauth/callback")
	return &oauthEnv{Env: env, AS: as}
}

// integration creates a custom OAuth 2.0 integration for the test
// server, found by issuer discovery alone.
func (o *oauthEnv) integration(name string) string {
	o.T.Helper()
	in := o.Must(201, "POST", "/v1/integrations", "", map[string]any{
		"name": name, "provider": "custom", "auth_method": "oauth2",
		"config": map[string]any{
			"base_url": o.AS.URL,
			"verify":   map[string]any{"method": "GET", "path": "/userinfo"},
			"oauth2": map[string]any{
				"issuer": o.AS.Issuer, "client_id": oauthtest.DefaultClientID, "client_secret": oauthtest.DefaultClientSecret,
				"scopes": []string{"offline", "openid"}, "pkce": true,
			},
		},
	})
	return in["id"].(string)
}

// noRedirect is a browser that stops at the first redirect.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// connect runs Authorize → approve at the provider → callback, and
// returns the callback's response.
func (o *oauthEnv) connect(id string) *http.Response {
	o.T.Helper()
	u := o.Must(200, "POST", "/v1/integrations/"+id+"/authorize", "", map[string]any{})["authorize_url"].(string)
	back, err := o.AS.Approve(context.Background(), u)
	if err != nil {
		o.T.Fatalf("approve: %v", err)
	}
	if !strings.HasPrefix(back.String(), o.URL+"/oauth/callback?") {
		o.T.Fatalf("provider sent the browser to %s", back)
	}
	resp, err := noRedirect.Get(back.String())
	if err != nil {
		o.T.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestOAuthAuthorizeAccessProxyVerify(t *testing.T) { backends(t, testOAuthAuthorize) }

func testOAuthAuthorize(t *testing.T, opts servertest.Options) {
	o := startOAuth(t, opts, oauthtest.Options{})
	id := o.integration("Acme OAuth")
	base := "/v1/integrations/" + id
	if got := o.Must(200, "GET", base, "", nil)["status"]; got != "pending" {
		t.Fatalf("status before authorize = %v", got)
	}
	u := o.Must(200, "POST", base+"/authorize", "", map[string]any{"return_to": "/ui/integrations/" + id})["authorize_url"].(string)
	q := mustURL(t, u).Query()
	if len(q.Get("state")) < 43 || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("redirect_uri") != o.URL+"/oauth/callback" || q.Get("client_id") != oauthtest.DefaultClientID {
		t.Fatalf("authorize URL lacks state/PKCE/redirect: %s", u)
	}
	back, err := o.AS.Approve(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if back.Query().Get("iss") != o.AS.Issuer {
		t.Fatalf("provider did not send iss: %s", back)
	}
	resp, err := noRedirect.Get(back.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/integrations/"+id {
		t.Fatalf("callback: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatal("callback without Referrer-Policy: no-referrer")
	}
	in := o.Must(200, "GET", base, "", nil)
	if in["status"] != "connected" {
		t.Fatalf("status after callback = %v", in["status"])
	}
	if strings.Contains(string(mustJSON(in)), oauthtest.DefaultClientSecret) {
		t.Fatal("client secret shown in the integration")
	}
	a := o.Must(200, "GET", base+"/access", "", nil)
	tok, _ := a["access_token"].(string)
	if a["type"] != "bearer" || tok == "" || a["expires_at"] == nil || !o.AS.Valid(tok) {
		t.Fatalf("access = %v", a)
	}
	if r := o.Must(200, "GET", base+"/proxy/userinfo", "", nil); r["sub"] == nil {
		t.Fatalf("proxied userinfo = %v", r)
	}
	if v := o.Must(200, "POST", base+"/verify", "", nil); v["ok"] != true {
		t.Fatalf("verify = %v", v)
	}
	// Replaying the callback changes nothing.
	resp, _ = noRedirect.Get(back.String())
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed callback: %d", resp.StatusCode)
	}
	if n := len(o.Must(200, "GET", base+"/credentials", "", nil)["credentials"].([]any)); n != 1 {
		t.Fatalf("%d credential versions after a replay", n)
	}
	// Revoke: the provider is told (RFC 7009) and the token dies there.
	credID := o.Must(200, "GET", base+"/credentials", "", nil)["credentials"].([]any)[0].(map[string]any)["id"].(string)
	before := o.AS.RevokeRequests()
	o.Must(200, "POST", base+"/credentials/"+credID+"/revoke", "", nil)
	if o.AS.RevokeRequests() == before || o.AS.Valid(tok) {
		t.Fatalf("revocation did not reach the provider (requests %d→%d, token valid %v)", before, o.AS.RevokeRequests(), o.AS.Valid(tok))
	}
	if got := o.Must(200, "GET", base, "", nil)["status"]; got != "pending" {
		t.Fatalf("status after revoke = %v", got)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// expireSoon waits until a token issued with a TTL of ttl is no longer
// fresh (less than half its lifetime left).
func expireSoon(ttl time.Duration) { time.Sleep(ttl/2 + 200*time.Millisecond) }

// TestConcurrentAccessOneRefresh: 100 concurrent /access calls for a
// token that must be refreshed cause exactly one refresh request.
func TestConcurrentAccessOneRefresh(t *testing.T) {
	const ttl = 2 * time.Second
	o := startOAuth(t, servertest.Options{NoBackground: true}, oauthtest.Options{AccessTokenTTL: ttl})
	id := o.integration("Concurrent")
	o.connect(id)
	expireSoon(ttl)
	o.AS.SetDelay(150 * time.Millisecond) // keep the refresh in flight while callers pile up
	worker := o.NewToken("worker", "default")
	before := o.AS.RefreshRequests()
	tokens := accessConcurrently(t, []*servertest.Env{o.Env}, id, worker, 100)
	if n := o.AS.RefreshRequests() - before; n != 1 {
		t.Fatalf("%d refresh requests for 100 concurrent callers, want exactly 1", n)
	}
	if len(tokens) != 1 {
		t.Fatalf("callers got %d different tokens", len(tokens))
	}
}

// TestConcurrentAccessOneRefreshAcrossInstances: the same across two
// Storm instances sharing one PostgreSQL database.
func TestConcurrentAccessOneRefreshAcrossInstances(t *testing.T) {
	// 4s tokens: the refreshed one stays fresh (half its lifetime left)
	// for 2s, well past the time 100 callers on 2 cores under -race
	// take to read it. With 2s tokens, a caller that re-read the
	// credential more than a second after the refresh saw a token
	// already due again and refreshed it a second time, correctly.
	const ttl = 4 * time.Second
	opts := servertest.Options{NoBackground: true, Database: postgresURL(t)}
	o := startOAuth(t, opts, oauthtest.Options{AccessTokenTTL: ttl})
	opts.DataDir = o.DataDir
	other := servertest.Start(t, opts)
	o.AS.AddRedirectURI(oauthtest.DefaultClientID, other.URL+"/oauth/callback")
	id := o.integration("Two instances")
	o.connect(id)
	expireSoon(ttl)
	o.AS.SetDelay(150 * time.Millisecond)
	worker := o.NewToken("worker", "default")
	before := o.AS.RefreshRequests()
	tokens := accessConcurrently(t, []*servertest.Env{o.Env, other}, id, worker, 100)
	if n := o.AS.RefreshRequests() - before; n != 1 {
		t.Fatalf("%d refresh requests for 100 callers on two instances, want exactly 1", n)
	}
	if len(tokens) != 1 {
		t.Fatalf("callers got %d different tokens", len(tokens))
	}
}

// accessConcurrently calls /access n times at once, spread over the
// instances, and returns the distinct tokens handed out.
func accessConcurrently(t *testing.T, envs []*servertest.Env, id, token string, n int) map[string]bool {
	t.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		tokens = map[string]bool{}
		start  = make(chan struct{})
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := envs[i%len(envs)]
			<-start
			r := env.Do("GET", "/v1/integrations/"+id+"/access", token, nil)
			if r.Status != 200 {
				t.Errorf("access: %d %s", r.Status, r.Body)
				return
			}
			mu.Lock()
			tokens[r.JSON(t)["access_token"].(string)] = true
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return tokens
}

// TestGrantRevokedNeedsReconnect: the user revokes the grant at the
// provider; the next refresh gets invalid_grant → reconnect_required and
// events; authorizing again (Reconnect) brings it back.
func TestGrantRevokedNeedsReconnect(t *testing.T) {
	const ttl = 2 * time.Second
	o := startOAuth(t, servertest.Options{NoBackground: true}, oauthtest.Options{AccessTokenTTL: ttl})
	id := o.integration("Revoked")
	base := "/v1/integrations/" + id
	o.connect(id)
	o.AS.RevokeAll()
	expireSoon(ttl)
	r := o.Do("GET", base+"/access", "", nil)
	if r.Status != 409 || !strings.Contains(string(r.Body), "invalid_grant") {
		t.Fatalf("access after revocation: %d %s", r.Status, r.Body)
	}
	in := o.Must(200, "GET", base, "", nil)
	if in["status"] != "reconnect_required" {
		t.Fatalf("status = %v", in["status"])
	}
	types := eventTypes(t, o.Env, id)
	if !strings.Contains(types, "token.refresh_failed integration.reconnect_required") {
		t.Fatalf("events = %s", types)
	}
	// Reconnect.
	o.connect(id)
	if got := o.Must(200, "GET", base, "", nil)["status"]; got != "connected" {
		t.Fatalf("status after reconnect = %v", got)
	}
	o.Must(200, "GET", base+"/access", "", nil)
	states := map[string]int{}
	for _, c := range o.Must(200, "GET", base+"/credentials", "", nil)["credentials"].([]any) {
		states[c.(map[string]any)["state"].(string)]++
	}
	if states["active"] != 1 || states["revoked"] != 1 {
		t.Fatalf("versions after reconnect = %v", states)
	}
}

func eventTypes(t *testing.T, env *servertest.Env, id string) string {
	t.Helper()
	var types []string
	for _, e := range env.Must(200, "GET", "/v1/events?limit=1000&integration="+id, "", nil)["events"].([]any) {
		types = append(types, e.(map[string]any)["type"].(string))
	}
	return strings.Join(types, " ")
}

// TestProviderOutageBacksOff: 503s from the token endpoint put the
// integration in degraded, keep handing out the still-valid token, call
// the provider rarely (no retry storm) and recover when it is back.
func TestProviderOutageBacksOff(t *testing.T) {
	// The outage's 20 calls must end before the token does (half its
	// life after expireSoon): at 4 s a loaded CI run (-race, every
	// package at once) once took longer.
	const ttl = 8 * time.Second
	opts := servertest.Options{NoBackground: true}
	opts.Tokens.MaxBackoff = 400 * time.Millisecond
	o := startOAuth(t, opts, oauthtest.Options{AccessTokenTTL: ttl})
	id := o.integration("Outage")
	base := "/v1/integrations/" + id
	o.connect(id)
	first := o.Must(200, "GET", base+"/access", "", nil)["access_token"]
	expireSoon(ttl) // due for refresh, still valid
	o.AS.FailNext(1000, 503)
	before := o.AS.TokenRequests()
	for range 20 {
		a := o.Must(200, "GET", base+"/access", "", nil) // still valid: served
		if a["access_token"] != first {
			t.Fatal("handed out a different token during the outage")
		}
	}
	if n := o.AS.TokenRequests() - before; n < 1 || n > 3 {
		t.Fatalf("%d token requests for 20 callers during an outage: want a few, not a storm", n)
	}
	if got := o.Must(200, "GET", base, "", nil)["status"]; got != "degraded" {
		t.Fatalf("status during outage = %v", got)
	}
	o.AS.FailNext(0, 0)
	time.Sleep(500 * time.Millisecond) // past the capped backoff
	a := o.Must(200, "GET", base+"/access", "", nil)
	if a["access_token"] == first {
		t.Fatal("not refreshed after the provider came back")
	}
	if got := o.Must(200, "GET", base, "", nil)["status"]; got != "connected" {
		t.Fatalf("status after recovery = %v", got)
	}
	if types := eventTypes(t, o.Env, id); !strings.Contains(types, "integration.degraded") || !strings.Contains(types, "integration.recovered") {
		t.Fatalf("events = %s", types)
	}
}

// TestMissingRefreshTokenAndExpiresIn: a refresh answer without
// refresh_token keeps the stored one; without expires_in the expiry comes
// from the JWT exp or a default lifetime, never "never".
func TestMissingRefreshTokenAndExpiresIn(t *testing.T) {
	const ttl = 2 * time.Second
	o := startOAuth(t, servertest.Options{NoBackground: true}, oauthtest.Options{AccessTokenTTL: ttl, DisableRefreshTokenRotation: true})
	id := o.integration("Quirks")
	base := "/v1/integrations/" + id
	o.connect(id)
	o.AS.OmitRefreshToken(true)
	for i := range 2 { // two refreshes in a row: the kept refresh token still works
		expireSoon(ttl)
		before := o.AS.RefreshRequests()
		o.Must(200, "GET", base+"/access", "", nil)
		if o.AS.RefreshRequests() != before+1 {
			t.Fatalf("refresh %d did not happen", i)
		}
	}

	// Without expires_in: the JWT exp when the token is a JWT, else the
	// default lifetime, never "never expires".
	for _, c := range []struct {
		jwt      bool
		min, max time.Duration
	}{{true, 0, ttl + time.Second}, {false, 59 * time.Minute, 61 * time.Minute}} {
		q := startOAuth(t, servertest.Options{NoBackground: true}, oauthtest.Options{AccessTokenTTL: ttl})
		q.AS.OmitExpiresIn(true)
		q.AS.JWTAccessTokens(c.jwt)
		qid := q.integration("No expires_in")
		q.connect(qid)
		a := q.Must(200, "GET", "/v1/integrations/"+qid+"/access", "", nil)
		exp, _ := time.Parse(time.RFC3339, a["expires_at"].(string))
		if d := time.Until(exp); d <= c.min || d > c.max {
			t.Fatalf("jwt=%v without expires_in: expires in %v, want (%v, %v]", c.jwt, d, c.min, c.max)
		}
	}
}

// TestCallbackAbuse: every bad callback shows an error page with
// Referrer-Policy: no-referrer and stores nothing.
func TestCallbackAbuse(t *testing.T) {
	o := startOAuth(t, servertest.Options{NoBackground: true}, oauthtest.Options{})
	id := o.integration("Abuse")
	base := "/v1/integrations/" + id
	authorize := func() string {
		return o.Must(200, "POST", base+"/authorize", "", nil)["authorize_url"].(string)
	}
	callback := func(q url.Values) *http.Response {
		resp, err := noRedirect.Get(o.URL + "/oauth/callback?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	approve := func(u string) url.Values {
		back, err := o.AS.Approve(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		return back.Query()
	}
	expired := func() url.Values {
		// A state created 11 minutes ago, written as Authorize would.
		state := "expired-state-0123456789abcdefghijklmnopqrstuvwxyz"
		h := sha256.Sum256([]byte(state))
		integ, _ := o.Server.Store.GetIntegration(context.Background(), id)
		now := time.Now().Add(-11 * time.Minute)
		if err := o.Server.Store.CreateOAuthState(context.Background(), store.OAuthState{Hash: h[:], IntegrationID: id, WorkspaceID: integ.WorkspaceID,
			Verifier: []byte("x"), CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		return url.Values{"state": {state}, "code": {"whatever"}}
	}
	cases := map[string]func() url.Values{
		"no state":      func() url.Values { return url.Values{"code": {"x"}} },
		"unknown state": func() url.Values { return url.Values{"state": {"never-issued-state-value"}, "code": {"x"}} },
		"replayed state": func() url.Values {
			q := approve(authorize())
			if r := callback(q); r.StatusCode != http.StatusOK {
				t.Fatalf("first use: %d", r.StatusCode)
			}
			return q
		},
		"expired state": expired,
		"provider error": func() url.Values {
			back, err := o.AS.Deny(context.Background(), authorize())
			if err != nil {
				t.Fatal(err)
			}
			return back.Query()
		},
		"wrong iss": func() url.Values {
			q := approve(authorize())
			q.Set("iss", "https://evil.example.com")
			return q
		},
		"missing iss (advertised)": func() url.Values {
			q := approve(authorize())
			q.Del("iss")
			return q
		},
		"missing code": func() url.Values {
			q := approve(authorize())
			q.Del("code")
			return q
		},
		"forged code": func() url.Values {
			q := approve(authorize())
			q.Set("code", "forged-code")
			return q
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			q := mk()
			before := len(o.Must(200, "GET", base+"/credentials", "", nil)["credentials"].([]any))
			resp := callback(q)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Referrer-Policy") != "no-referrer" {
				t.Fatalf("%d, Referrer-Policy %q", resp.StatusCode, resp.Header.Get("Referrer-Policy"))
			}
			if after := len(o.Must(200, "GET", base+"/credentials", "", nil)["credentials"].([]any)); after != before {
				t.Fatalf("a bad callback stored a credential (%d → %d)", before, after)
			}
		})
	}
	// return_to may not point elsewhere (open redirect).
	for _, rt := range []string{"https://evil.example.com/", "//evil.example.com/x", "javascript:alert(1)", "/\\evil.example.com"} {
		if r := o.Do("POST", base+"/authorize", "", map[string]any{"return_to": rt}); r.Status != 400 {
			t.Errorf("return_to %q: %d", rt, r.Status)
		}
	}
}

// TestProxyRefreshesOn401: the provider refuses a token Storm still
// believes valid (here: another instance refreshed, which invalidates
// the old access token at this provider); the proxy retries once with
// the newest token, without a second refresh.
func TestProxyRefreshesOn401(t *testing.T) {
	o := startOAuth(t, servertest.Options{NoBackground: true, CredentialCacheTTL: time.Hour}, oauthtest.Options{})
	id := o.integration("Proxy 401")
	base := "/v1/integrations/" + id
	o.connect(id)
	o.Must(200, "GET", base+"/proxy/userinfo", "", nil) // caches the current token
	creds, err := o.Server.Store.ListCredentials(context.Background(), id)
	if err != nil || len(creds) != 1 {
		t.Fatal(creds, err)
	}
	old, err := o.Server.Creds.Tokens().Tokens(creds[0])
	if err != nil {
		t.Fatal(err)
	}
	// A refresh elsewhere: the provider drops the old access token.
	if _, err := o.Server.Creds.Tokens().RefreshAfter401(context.Background(), creds[0], old.AccessToken, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if o.AS.Valid(old.AccessToken.Reveal()) {
		t.Fatal("the provider still accepts the old token; the test proves nothing")
	}
	before := o.AS.RefreshRequests()
	if r := o.Must(200, "GET", base+"/proxy/userinfo", "", nil); r["sub"] == nil {
		t.Fatalf("proxied answer = %v", r)
	}
	if n := o.AS.RefreshRequests() - before; n != 0 {
		t.Fatalf("%d extra refreshes: the newer stored token should have been used", n)
	}
}
