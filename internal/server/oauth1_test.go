package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/methods/oauth1/oauth1test"
	"github.com/stormcreds/storm/internal/server/servertest"
)

const (
	o1ConsumerKey    = "storm-consumer-key"
	o1ConsumerSecret = "storm-consumer-secret-0123456789"
)

// oauth1Integration creates a custom oauth1 integration against peer with
// the given signature method (and no endpoints when outOfBand).
func oauth1Integration(t *testing.T, env *servertest.Env, peer *oauth1test.Server, name, method string, outOfBand bool) string {
	t.Helper()
	o1 := map[string]any{"signature_method": method, "realm": "Storm Test", "consumer_key": o1ConsumerKey, "consumer_secret": o1ConsumerSecret}
	if !outOfBand {
		o1["request_token_url"], o1["authorize_url"], o1["access_token_url"] = peer.RequestTokenURL(), peer.AuthorizeURL(), peer.AccessTokenURL()
	}
	in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": name, "provider": "custom", "auth_method": "oauth1",
		"config": map[string]any{"base_url": peer.URL + "/api", "verify": map[string]any{"method": "GET", "path": "/verify"}, "oauth1": o1}})
	return in["id"].(string)
}

// getNoRedirect GETs u without following redirects.
func getNoRedirect(t *testing.T, u string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// proxyEcho sends a proxied request and decodes the peer's echo of what
// it verified.
func proxyEcho(t *testing.T, env *servertest.Env, token, method, path, contentType, body string) oauth1test.Echo {
	t.Helper()
	req, _ := http.NewRequest(method, env.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	var e oauth1test.Echo
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("echo: %v: %s", err, b)
	}
	return e
}

// TestOAuth1ThreeLeggedAndProxy: OAuth 1.0a end to end on both stores
// against a provider that verifies every signature per RFC 5849 §3.4:
// bad settings are refused naming the field; POST …/authorize gets a
// request token and the provider's authorization URL; the provider sends
// the browser to the one /oauth/callback with oauth_token and
// oauth_verifier, which completes (once: a replay is refused); the proxy
// signs GETs with repeated, empty and percent-encoded query parameters
// and POSTs with form bodies, each accepted by the peer; /access gives
// the signing material; a denial changes nothing; no secret leaks.
func TestOAuth1ThreeLeggedAndProxy(t *testing.T) { backends(t, testOAuth1ThreeLegged) }

func testOAuth1ThreeLegged(t *testing.T, opts servertest.Options) {
	env := servertest.Start(t, opts)
	peer := oauth1test.New(t, oauth1test.Options{})
	peer.AddConsumer(oauth1test.Consumer{Key: o1ConsumerKey, Secret: o1ConsumerSecret})

	// Bad settings: 400 naming the field, nothing stored.
	for _, tc := range []struct {
		o1    map[string]any
		field string
	}{
		{map[string]any{"signature_method": "HMAC-MD5", "consumer_key": "k"}, "config.oauth1.signature_method"},
		{map[string]any{"signature_method": "RSA-SHA1", "consumer_key": "k", "consumer_secret": "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n"},
			"config.oauth1.consumer_secret"},
		{map[string]any{"signature_method": "HMAC-SHA1", "consumer_secret": "s"}, "config.oauth1.consumer_key"},
		{map[string]any{"signature_method": "HMAC-SHA1", "consumer_key": "k", "request_token_url": peer.RequestTokenURL()}, "config.oauth1.authorize_url"},
	} {
		r := env.Do("POST", "/v1/integrations", "", map[string]any{"name": "bad", "provider": "custom", "auth_method": "oauth1",
			"config": map[string]any{"base_url": peer.URL + "/api", "oauth1": tc.o1}})
		if r.Status != 400 || !slices.Contains(problemFields(t, r), tc.field) {
			t.Fatalf("%v: %d %s, want 400 naming %s", tc.o1, r.Status, r.Body, tc.field)
		}
	}
	if n := len(env.Must(200, "GET", "/v1/integrations", "", nil)["integrations"].([]any)); n != 0 {
		t.Fatalf("%d integrations after refused creates", n)
	}

	id := oauth1Integration(t, env, peer, "OAuth1 API", "HMAC-SHA1", false)
	base := "/v1/integrations/" + id
	if cfg := env.Must(200, "GET", base, "", nil)["config"].(map[string]any); cfg["oauth1"].(map[string]any)["consumer_secret"] != "********" {
		t.Fatalf("consumer_secret not masked: %v", cfg)
	}
	// A denial: an error page, nothing stored, an event.
	au := env.Must(200, "POST", base+"/authorize", "", map[string]any{})["authorize_url"].(string)
	redirect, err := peer.Deny(context.Background(), au)
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := getNoRedirect(t, redirect.String()); resp.StatusCode != 400 || !strings.Contains(body, "did not grant access") {
		t.Fatalf("denied callback: %d %s", resp.StatusCode, body)
	}

	au = env.Must(200, "POST", base+"/authorize", "", map[string]any{"return_to": "/integrations/" + id})["authorize_url"].(string)
	if !strings.HasPrefix(au, peer.AuthorizeURL()+"?oauth_token=") {
		t.Fatalf("authorize_url %s", au)
	}
	redirect, err = peer.Approve(context.Background(), au)
	if err != nil {
		t.Fatal(err)
	}
	if redirect.Path != "/oauth/callback" || redirect.Query().Get("oauth_verifier") == "" {
		t.Fatalf("the provider redirected to %s", redirect)
	}
	resp, body := getNoRedirect(t, redirect.String())
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/integrations/"+id {
		t.Fatalf("callback: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Error("callback without Referrer-Policy: no-referrer")
	}
	// A replay of the same redirect changes nothing.
	if resp, _ := getNoRedirect(t, redirect.String()); resp.StatusCode != 400 {
		t.Fatalf("replayed callback: %d", resp.StatusCode)
	}
	in := env.Must(200, "GET", base, "", nil)
	if in["status"] != "connected" || peer.AccessTokenCalls() != 1 {
		t.Fatalf("after callback: status %v, %d access-token calls", in["status"], peer.AccessTokenCalls())
	}
	if s := stateCounts(t, env, id); s["active"] != 1 || len(s) != 1 {
		t.Fatalf("states %v", s)
	}

	worker := env.NewToken("worker", "default")
	// GET with repeated, empty and percent-encoded parameters.
	e := proxyEcho(t, env, worker, "GET", base+"/proxy/items?b=2&a=1&a=0&empty=&sp=a%20b&pct=100%25&a=1", "", "")
	wantQ := [][2]string{{"b", "2"}, {"a", "1"}, {"a", "0"}, {"empty", ""}, {"sp", "a b"}, {"pct", "100%"}, {"a", "1"}}
	if !slices.Equal(e.Params, wantQ) || e.Method != "GET" || e.ConsumerKey != o1ConsumerKey || e.Realm != "Storm Test" {
		t.Fatalf("echo %+v", e)
	}
	// POST with a form body: its parameters are signed too.
	e = proxyEcho(t, env, worker, "POST", base+"/proxy/items?q=x", "application/x-www-form-urlencoded", "x=1&x=2&note=hello+world&e=")
	if !slices.Equal(e.Params, [][2]string{{"q", "x"}, {"x", "1"}, {"x", "2"}, {"note", "hello world"}, {"e", ""}}) || e.Method != "POST" {
		t.Fatalf("form echo %+v", e)
	}
	// A JSON body is not signed but the request still is.
	e = proxyEcho(t, env, worker, "PUT", base+"/proxy/items/7", "application/json", `{"x":1}`)
	if e.Method != "PUT" || len(e.Params) != 0 {
		t.Fatalf("json echo %+v", e)
	}
	if peer.Rejected() != 0 {
		t.Fatalf("the provider rejected %d signed requests: %s", peer.Rejected(), peer.LastRejection())
	}
	if v := env.Must(200, "POST", base+"/verify", "", nil); v["ok"] != true {
		t.Fatalf("verify %v", v)
	}
	a := env.Must(200, "GET", base+"/access", worker, nil)
	if a["type"] != "oauth1" || a["consumer_key"] != o1ConsumerKey || a["consumer_secret"] != o1ConsumerSecret ||
		a["signature_method"] != "HMAC-SHA1" || a["realm"] != "Storm Test" || !peer.ValidToken(a["token"].(string)) || a["token_secret"] == "" {
		t.Fatalf("access %v", a)
	}
	types := eventTypes(t, env, id)
	for _, w := range []string{"authorization.failed", "credential.saved", "integration.connected"} {
		if !strings.Contains(types, w) {
			t.Errorf("events %s lack %s", types, w)
		}
	}
	noSecretsOutsideAccess(t, env, o1ConsumerSecret, a["token_secret"].(string))
}

// TestOAuth1PastedTokens: NetSuite-style token-based authentication on
// both stores — no endpoints, HMAC-SHA256, a realm, token credentials
// issued out of band and saved: a wrong token secret is refused (422,
// nothing stored), the right one is verified and signs proxied requests;
// rotation keeps the previous tokens as a fallback; authorizing is
// refused with a clear problem.
func TestOAuth1PastedTokens(t *testing.T) { backends(t, testOAuth1PastedTokens) }

func testOAuth1PastedTokens(t *testing.T, opts servertest.Options) {
	env := servertest.Start(t, opts)
	peer := oauth1test.New(t, oauth1test.Options{})
	peer.AddConsumer(oauth1test.Consumer{Key: o1ConsumerKey, Secret: o1ConsumerSecret, Methods: []string{"HMAC-SHA256"}})
	id := oauth1Integration(t, env, peer, "NetSuite-like", "HMAC-SHA256", true)
	base := "/v1/integrations/" + id
	if r := env.Do("POST", base+"/authorize", "", map[string]any{}); r.Status != 422 || !strings.Contains(string(r.Body), "out of band") {
		t.Fatalf("authorize without endpoints: %d %s", r.Status, r.Body)
	}
	tok, sec := peer.IssueToken(o1ConsumerKey)
	if r := env.Do("PUT", base+"/credentials", "", map[string]any{"token": tok}); r.Status != 400 || !slices.Contains(problemFields(t, r), "token_secret") {
		t.Fatalf("missing token_secret: %d %s", r.Status, r.Body)
	}
	wrong := "wrong-token-secret-aaaaaaaa"
	if r := env.Do("PUT", base+"/credentials", "", map[string]any{"token": tok, "token_secret": wrong}); r.Status != 422 || r.JSON(t)["reason"] != "rejected" {
		t.Fatalf("wrong token secret: %d %s", r.Status, r.Body)
	}
	c1 := env.Must(200, "PUT", base+"/credentials", "", map[string]any{"token": tok, "token_secret": sec})
	if c1["state"] != "active" || c1["verified_at"] == nil {
		t.Fatalf("saved %v", c1)
	}
	worker := env.NewToken("worker", "default")
	e := proxyEcho(t, env, worker, "GET", base+"/proxy/record?id=1&id=2", "", "")
	if e.Token != tok || !slices.Equal(e.Params, [][2]string{{"id", "1"}, {"id", "2"}}) || e.Realm != "Storm Test" {
		t.Fatalf("echo %+v", e)
	}
	// Rotation: new tokens saved, the old revoked at the provider; the
	// proxy's 401 retry falls back to… the new active version.
	tok2, sec2 := peer.IssueToken(o1ConsumerKey)
	env.Must(200, "PUT", base+"/credentials", "", map[string]any{"token": tok2, "token_secret": sec2})
	if s := stateCounts(t, env, id); s["active"] != 1 || s["previous"] != 1 {
		t.Fatalf("states %v", s)
	}
	peer.RevokeToken(tok)
	if e := proxyEcho(t, env, worker, "GET", base+"/proxy/record", "", ""); e.Token != tok2 {
		t.Fatalf("after rotation the proxy used %s", e.Token)
	}
	a := env.Must(200, "GET", base+"/access", worker, nil)
	if a["type"] != "oauth1" || a["token"] != tok2 || a["token_secret"] != sec2 || a["signature_method"] != "HMAC-SHA256" {
		t.Fatalf("access %v", a)
	}
	noSecretsOutsideAccess(t, env, o1ConsumerSecret, sec, sec2, wrong)
	_ = url.Values{}
}
