package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestAuthSchemeIsCaseInsensitive: the Authorization scheme is matched
// without regard to case (RFC 7235 §2.1) and extra spaces around the
// token are tolerated; anything that is not a Bearer token is still 401.
func TestAuthSchemeIsCaseInsensitive(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	get := func(header string) int {
		t.Helper()
		req, err := http.NewRequest("GET", env.URL+"/v1/workspaces", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tok := env.AdminToken
	for _, h := range []string{"Bearer " + tok, "bearer " + tok, "BEARER " + tok, "BeArEr " + tok,
		"Bearer  " + tok, "Bearer " + tok + "  ", "  Bearer   " + tok} {
		if got := get(h); got != http.StatusOK {
			t.Errorf("Authorization %q…: %d, want 200", h[:min(len(h), 12)], got)
		}
	}
	for _, h := range []string{"", "Bearer", "Bearer ", "Bearer    ", "Basic " + tok, "Bearertoken" + tok, tok,
		"Bearer " + tok + "x", "Bearer " + tok + " " + tok} {
		if got := get(h); got != http.StatusUnauthorized {
			t.Errorf("Authorization %q…: %d, want 401", h[:min(len(h), 14)], got)
		}
	}
}

// problemFields returns the errors[].field values of a problem+json
// answer.
func problemFields(t *testing.T, r servertest.Response) []string {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("%d answer is %s, not problem+json: %s", r.Status, ct, r.Body)
	}
	var out []string
	errs, _ := r.JSON(t)["errors"].([]any)
	for _, e := range errs {
		f, _ := e.(map[string]any)["field"].(string)
		out = append(out, f)
	}
	return out
}

// TestBaseURLDotSegmentsRefusedAtCreateAndPatch: a base_url whose path
// has dot segments (plain or percent-encoded) is a 400 naming
// config.base_url when the integration is created or patched — not a 500
// on every proxied request — and a refused PATCH changes nothing.
func TestBaseURLDotSegmentsRefusedAtCreateAndPatch(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	up := servertest.NewUpstream(t, "key-one-aaaaaaaaaaaa")
	config := func(base string) map[string]any {
		return map[string]any{
			"base_url": base,
			"api_key":  map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "},
			"verify":   map[string]any{"method": "GET", "path": "/me"},
		}
	}
	for _, path := range []string{"/v1/../x", "/v1/%2e%2e/x", "/v1/%2E%2E", "/./v1", "/v1/./x", "/v1/.%2e/x"} {
		r := env.Do("POST", "/v1/integrations", "", map[string]any{"name": "dots" + path, "provider": "custom",
			"auth_method": "api_key", "config": config(up.URL + path)})
		if r.Status != http.StatusBadRequest || !slices.Equal(problemFields(t, r), []string{"config.base_url"}) {
			t.Errorf("create with base_url …%s: %d %s", path, r.Status, r.Body)
		}
	}
	if n := len(env.Must(200, "GET", "/v1/integrations", "", nil)["integrations"].([]any)); n != 0 {
		t.Fatalf("%d integrations stored by refused creates", n)
	}

	id := env.CustomIntegration("Acme", up)
	base := "/v1/integrations/" + id
	env.Must(200, "PUT", base+"/credentials", "", map[string]any{"api_key": "key-one-aaaaaaaaaaaa"})
	before := env.Must(200, "GET", base, "", nil)
	for _, path := range []string{"/api/../admin", "/api/%2e%2e/admin", "/./api"} {
		r := env.Do("PATCH", base, "", map[string]any{"config": config(up.URL + path)})
		if r.Status != http.StatusBadRequest || !slices.Equal(problemFields(t, r), []string{"config.base_url"}) {
			t.Errorf("patch to base_url …%s: %d %s", path, r.Status, r.Body)
		}
	}
	after := env.Must(200, "GET", base, "", nil)
	if after["updated_at"] != before["updated_at"] || fmt.Sprint(after["config"]) != fmt.Sprint(before["config"]) {
		t.Fatalf("a refused PATCH changed the integration: %v → %v", before, after)
	}
	if r := env.Do("GET", base+"/proxy/me", "", nil); r.Status != http.StatusOK {
		t.Fatalf("proxy after refused patches: %d %s", r.Status, r.Body)
	}
}

// TestCustomOAuth2UsesPKCEByDefault: a custom OAuth 2.0 integration
// whose config does not mention pkce sends code_challenge_method=S256
// and a challenge, and its code exchange sends the matching verifier
// (the authorization server refuses the exchange otherwise); an explicit
// "pkce": false still turns PKCE off.
func TestCustomOAuth2UsesPKCEByDefault(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	create := func(as *oauthtest.Server, name string, pkce any) string {
		t.Helper()
		as.AddRedirectURI(oauthtest.DefaultClientID, env.URL+"/oauth/callback")
		// Explicit endpoints and no issuer: nothing is discovered, so
		// only the config decides about PKCE.
		o := map[string]any{"authorize_url": as.AuthorizeURL(), "token_url": as.TokenURL(),
			"client_id": oauthtest.DefaultClientID, "client_secret": oauthtest.DefaultClientSecret, "scopes": []string{"offline"}}
		if pkce != nil {
			o["pkce"] = pkce
		}
		in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": name, "provider": "custom", "auth_method": "oauth2",
			"config": map[string]any{"base_url": as.URL, "oauth2": o}})
		return in["id"].(string)
	}
	connect := func(as *oauthtest.Server, id string) url.Values {
		t.Helper()
		u := env.Must(200, "POST", "/v1/integrations/"+id+"/authorize", "", map[string]any{})["authorize_url"].(string)
		q := mustURL(t, u).Query()
		back, err := as.Approve(context.Background(), u)
		if err != nil {
			t.Fatalf("approve: %v", err)
		}
		resp, err := noRedirect.Get(back.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return q
	}

	// The server requires PKCE (fosite's EnforcePKCE): without a
	// challenge the authorization fails, without the right verifier the
	// exchange does.
	strict := oauthtest.New(t, oauthtest.Options{})
	id := create(strict, "PKCE by default", nil)
	q := connect(strict, id)
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) < 43 {
		t.Fatalf("authorize URL without PKCE S256: %v", q)
	}
	if st := env.Must(200, "GET", "/v1/integrations/"+id, "", nil)["status"]; st != "connected" || strict.TokenRequests() == 0 {
		t.Fatalf("status %v after the exchange (%d token requests): the verifier was not accepted", st, strict.TokenRequests())
	}

	lax := oauthtest.New(t, oauthtest.Options{PKCEOptional: true})
	id = create(lax, "PKCE off", false)
	q = connect(lax, id)
	if q.Has("code_challenge") || q.Has("code_challenge_method") {
		t.Fatalf("\"pkce\": false still sent PKCE: %v", q)
	}
	if st := env.Must(200, "GET", "/v1/integrations/"+id, "", nil)["status"]; st != "connected" {
		t.Fatalf("status %v without PKCE", st)
	}
}
